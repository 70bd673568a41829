"""Extracting from the window, with its questions and retries, and testing, which can lead to extracting.

With the overwrite setting on "ask", each file already at its target is asked about (Replace /
Skip / Keep Both) before the job starts, and the answers travel with it.  Two outcomes start
another extraction rather than end the flow: a file that appeared after the questions (the job
fails with OverwriteError, so that file is asked about too), and damage met before anything was
written (the user may extract every intact member instead).  A failed test offers the same.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lmarchive.container import ContainerReader
from lmarchive.errors import DamagedArchiveError, FormatError, LMArchiveError, OverwriteError
from lmarchive.extracting import Resolution, existing_targets
from lmarchive.jobs import ExtractJob, TestJob
from lmarchive_gui.extract_dialogs import Conflict, new_folder
from lmarchive_gui.job_controller import ERROR_TITLES, JobController
from lmarchive_gui.progress_panel import entries_text
from lmarchive_gui.questions import AskingWindow
from lmarchive_gui.worker_process import EXTRACT, TEST, JobOutcome


class ExtractFlow:
    """Extracts and tests the window's archive, asking the window's questions; ``selection`` gives the
    members selected in its view."""

    def __init__(self, window: AskingWindow, jobs: JobController, selection: Callable[[], list[str]]) -> None:
        self._window = window
        self._jobs = jobs
        self._selection = selection

    def extract_all(self) -> None:
        self._choose_and_extract(None)

    def extract_selected(self) -> None:
        names = self._selection()
        if names:
            self._choose_and_extract(names)

    def extract_selected_here(self) -> None:
        names = self._selection()
        if names:
            self.extract_next_to_archive(names)

    def _choose_and_extract(self, members: list[str] | None) -> None:
        """Ask where to (a new folder named after the archive, by default), then extract there."""
        archive = self._window.archive
        if archive is None:
            return
        dest = self._window.ask_extract_folder(new_folder(self._window.extract_parent(), archive.stem))
        if dest:
            self.extract_to(Path(dest), members)
        else:
            self._window.say("Extraction cancelled")

    def extract_next_to_archive(self, members: list[str] | None = None) -> None:
        """Ark/7-Zip-style: into a new folder named after the archive ('docs', else 'docs (2)'), beside it
        (or in the folder chosen in the settings)."""
        archive = self._window.archive
        if archive is not None:
            self.extract_to(new_folder(self._window.extract_parent(), archive.stem), members)

    def extract_to(
        self,
        dest: Path,
        members: list[str] | None = None,
        *,
        keep_going: bool = False,
        resolutions: dict[str, Resolution] | None = None,
    ) -> None:
        """Extract into ``dest`` with the overwrite policy from the settings: on "ask", every file
        already there is asked about first (Replace / Skip / Keep Both); ``resolutions`` are answers given."""
        window = self._window
        if window.archive is None:
            return
        answers = dict(resolutions or {})
        if window.settings.overwrite == "ask":
            asked = self._resolve_conflicts(dest, members, answers)
            if asked is None:
                window.say("Extraction cancelled")
                return
            answers.update(asked)
        self._jobs.submit(
            ExtractJob(
                archive=str(window.archive),
                dest=str(dest),
                members=tuple(members) if members else None,
                overwrite=window.settings.overwrite == "always",
                keep_going=keep_going,
                resolutions=dict(answers),
            ),
            on_success=lambda o: window.say(f"Extracted {entries_text(o.finished.entries)} to {dest}"),
            on_failure=lambda o: self._extract_failed(o, dest, members, answers, keep_going=keep_going),
        )

    def _resolve_conflicts(
        self, dest: Path, members: list[str] | None, known: dict[str, Resolution]
    ) -> dict[str, Resolution] | None:
        """Ask about each file already at its target that has no answer yet; None if the user cancels."""
        assert self._window.archive is not None
        try:
            with ContainerReader(self._window.archive) as reader:
                entries = list(reader.entries)
        except (LMArchiveError, OSError):
            return {}  # the job reports it
        if members:
            tops = tuple(m.strip("/") for m in members)
            entries = [e for e in entries if any(e.name == t or e.name.startswith(t + "/") for t in tops)]
        conflicts = [Conflict(e, st) for e, st in existing_targets(entries, dest) if e.name not in known]
        answers: dict[str, Resolution] = {}
        for number, conflict in enumerate(conflicts):
            asked = self._window.ask_conflict(conflict, dest, len(conflicts) - number - 1)
            if asked is None:
                return None
            answer, to_all = asked
            if to_all:
                answers.update((c.entry.name, answer) for c in conflicts[number:])
                break
            answers[conflict.entry.name] = answer
        return answers

    def _extract_failed(
        self,
        outcome: JobOutcome,
        dest: Path,
        members: list[str] | None,
        answers: dict[str, Resolution],
        *,
        keep_going: bool,
    ) -> None:
        """Damage: offer the intact members (or, having written them, say what is damaged); a file that
        appeared since the question: ask about it too; anything else: the error."""
        window = self._window
        finished = outcome.finished
        if finished.cancelled:
            return
        if keep_going and outcome.damage:
            window.show_damage_report(outcome.damage, dest)
            return
        if not keep_going and outcome.failed_with(FormatError):  # a damaged chunk (without keep-going, the first)
            if window.ask_extract_intact(finished.error or ""):
                self.extract_to(dest, members, keep_going=True, resolutions=answers)
            else:
                window.say("Extraction cancelled: nothing was extracted")
            return
        if outcome.failed_with(OverwriteError) and window.settings.overwrite == "ask":
            asked = self._resolve_conflicts(dest, members, answers)  # a file that appeared since the question
            if asked is None:
                window.say("Extraction cancelled")
                return
            if asked:
                self.extract_to(dest, members, keep_going=keep_going, resolutions=answers | asked)
                return
        window.show_error(ERROR_TITLES[EXTRACT], finished.error or "unknown error")

    def test(self) -> None:
        """Decode every entry and verify every checksum; damage is listed, with a way to extract what is intact."""
        window = self._window
        if window.archive is None:
            return
        name = window.archive.name
        self._jobs.submit(
            TestJob(archive=str(window.archive)),
            on_success=lambda o: window.show_info(
                "Test passed", f"All {entries_text(o.finished.entries)} of {name} decoded and matched their checksums."
            ),
            on_failure=self._test_failed,
        )

    def _test_failed(self, outcome: JobOutcome) -> None:
        if outcome.finished.cancelled:
            return
        if not outcome.failed_with(DamagedArchiveError) or not outcome.damage:
            self._window.show_error(ERROR_TITLES[TEST], outcome.finished.error or "unknown error")
        elif self._window.ask_damage_after_test(outcome.damage):
            self._extract_intact()

    def _extract_intact(self) -> None:
        """Extract All, writing every intact member of a damaged archive."""
        archive = self._window.archive
        if archive is None:
            return
        dest = self._window.ask_extract_folder(new_folder(self._window.extract_parent(), archive.stem))
        if dest:
            self.extract_to(Path(dest), keep_going=True)
