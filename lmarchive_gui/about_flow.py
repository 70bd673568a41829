"""The About dialog's jobs: the worker's facts (model fingerprint, device) when it opens, and the selftest.

Both run in the worker like any job (finding the facts loads the model, which would freeze the
window here), so they wait their turn: while another job runs, the dialog says it cannot show
them yet.  The dialog is kept while its own job runs, so reopening it does not lose the answer.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QWidget

from lmarchive_gui.about_dialog import AboutDialog
from lmarchive_gui.job_controller import JobController
from lmarchive_gui.scratch import ScratchArea
from lmarchive_gui.settings import Settings
from lmarchive_gui.worker_process import Inspect, JobOutcome, Selftest


class AboutFlow:
    """Shows the About dialog for the current settings and runs its jobs."""

    def __init__(
        self, parent: QWidget, jobs: JobController, settings: Callable[[], Settings], scratch: ScratchArea
    ) -> None:
        self._parent = parent
        self._jobs = jobs
        self._settings = settings
        self._scratch = scratch
        self._about: AboutDialog | None = None

    def show(self) -> AboutDialog:
        """The About dialog, rebuilt for the current settings unless a job of its own is still running."""
        running = self._jobs.running
        own_job = running is not None and isinstance(running.task, Selftest | Inspect)
        if self._about is not None and not own_job:
            self._about.deleteLater()
            self._about = None
        if self._about is None:
            about = self._about = AboutDialog(self._settings(), self._parent)
            about.selftest_requested.connect(self.run_selftest)
            if not self._jobs.submit(
                Inspect(self._settings().model),
                on_success=lambda outcome: about.show_facts(outcome.facts),
                on_failure=lambda outcome: about.show_facts_unavailable(outcome.finished.error or "unknown"),
            ):
                about.show_facts_unavailable("shown when no job is running")
        self._about.show()
        self._about.raise_()
        return self._about

    def run_selftest(self) -> None:
        about = self._about
        if about is None:
            return

        def report(outcome: JobOutcome) -> None:
            about.show_selftest_result(outcome.detail or outcome.finished.error or "FAIL: the selftest did not finish")

        task = Selftest(self._settings().model, str(self._scratch.root))
        if not self._jobs.submit(task, on_success=report, on_failure=report):
            about.show_selftest_result("Another job is running: try again when it has finished.")
