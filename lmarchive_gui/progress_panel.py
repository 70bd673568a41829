"""The panel at the bottom of the window while a job runs: what, how far, how fast, on what, and Cancel.

It only turns the core's events into widgets; the window decides what a job's end means.  Before
the job's first byte (the worker starting, a model loading and compiling) the bar is busy and says
so; after, it counts bytes, and the time left comes from lmarchive_gui.eta once it can be told honestly.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

from lmarchive.jobs import EntryFinished, EntryStarted, Event, JobStarted, Preparing, Progress
from lmarchive_gui.eta import EtaEstimator
from lmarchive_gui.formatting import duration_text, rate_text, size_text
from lmarchive_gui.worker_process import ADD, CREATE, DELETE, EXTRACT, SALVAGE, SELFTEST, TEST, Inspect, JobRequest

ESTIMATING = "estimating time left…"
_VERBS = {
    CREATE: "Compressing {n} into {archive}",
    ADD: "Compressing {n} into {archive}",
    EXTRACT: "Extracting {n} from {archive}",
    TEST: "Testing {n} of {archive}",
    DELETE: "Deleting {n} from {archive}",
    SALVAGE: "Salvaging what can be read into {archive}",
}
_BAR_SCALE = 1000


def entries_text(count: int | None) -> str:
    if count is None:
        return "entries"
    return f"{count:,} entry" if count == 1 else f"{count:,} entries"


class ProgressPanel(QFrame):
    """Overall bar, current-file bar, bytes/s and ETA, device, and a Cancel that really stops the job."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel()
        bold = QFont(self.title.font())
        bold.setBold(True)
        self.title.setFont(bold)
        self.device = QLabel()
        self.device.setToolTip("Where the model runs (Settings > Device)")
        self.overall = QProgressBar()
        self.overall_text = QLabel()
        self.current = QProgressBar()
        self.current_text = QLabel()
        for label in (self.overall_text, self.current_text):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long names clip
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the job; nothing half-done is left behind (Esc)")
        self.cancel_button.clicked.connect(self._cancel_clicked)
        for bar in (self.overall, self.current):
            bar.setRange(0, _BAR_SCALE)
            bar.setTextVisible(True)

        grid = QGridLayout(self)
        grid.addWidget(self.title, 0, 0, 1, 3)
        grid.addWidget(self.device, 0, 3, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(QLabel("Overall"), 1, 0)
        grid.addWidget(self.overall, 1, 1)
        grid.addWidget(self.overall_text, 1, 2, 1, 2)
        grid.addWidget(QLabel("Current"), 2, 0)
        grid.addWidget(self.current, 2, 1)
        grid.addWidget(self.current_text, 2, 2)
        grid.addWidget(self.cancel_button, 2, 3, Qt.AlignmentFlag.AlignRight)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 2)
        self._reset(None)
        self.hide()

    def _reset(self, request: JobRequest | None) -> None:
        self._request = request
        self._total = 0
        self._done = 0
        self._pending: dict[str, int] = {}
        """Entries started and not finished, oldest first: the coder works on several at once."""
        self._finished_bytes = 0
        self._eta = EtaEstimator(0)
        self._laid_out = False
        """Whether Progress names the entry its count has reached (else the oldest pending one is shown)."""
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.device.setText("")
        self._busy("Preparing…")
        self.current.setValue(0)
        self.current_text.setText("")

    def _busy(self, text: str) -> None:
        """A bar that moves without claiming a fraction: for waits whose length nobody knows."""
        self.overall.setRange(0, 0)
        self.overall_text.setText(text)

    def start(self, request: JobRequest) -> None:
        """Show the panel for a job that is about to be submitted."""
        self._reset(request)
        self.title.setText(self._title(None))
        self.show()

    def finish(self) -> None:
        self.hide()
        self._reset(None)

    def _title(self, count: int | None) -> str:
        request = self._request
        if request is None:
            return ""
        if request.kind == SELFTEST:
            return "Running the selftest"
        if isinstance(request.task, Inspect):
            return f"Loading the model {request.task.model}"
        return _VERBS[request.kind].format(n=entries_text(count), archive=Path(request.archive).name)

    def _cancel_clicked(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.cancel_requested.emit()

    def on_event(self, event: Event) -> None:
        match event:
            case Preparing():
                self._busy(f"Preparing: {event.step}…")
            case JobStarted():
                self.title.setText(self._title(event.entries))
                self.device.setText(f"Device: {event.device}")
                self._total = event.total_bytes
                self._eta = EtaEstimator(self._total)
                if self._total:
                    self._show_overall()
                else:
                    self._busy("")  # nothing to count (a delete)
            case EntryStarted():
                self._pending[event.name] = event.size
                self._show_current()
            case Progress():
                self._done = event.done_bytes
                self._eta.update(time.monotonic(), self._done)
                self._show_overall()
                if event.entry is not None and event.entry_total:
                    self._laid_out = True
                    self._show_entry(event.entry, event.entry_done / event.entry_total)
                else:
                    self._show_current()
            case EntryFinished():
                self._finished_bytes += self._pending.pop(event.info.name, 0)
                self._show_current()

    def rate(self) -> float | None:
        """Bytes per second lately; None until there is enough to tell."""
        return self._eta.rate()

    def _show_overall(self) -> None:
        if not self._total:
            return
        self.overall.setRange(0, _BAR_SCALE)
        self.overall.setValue(round(_BAR_SCALE * min(self._done, self._total) / self._total))
        parts = [f"{size_text(self._done)} of {size_text(self._total)}"]
        rate, left = self._eta.rate(), self._eta.remaining()
        if rate is not None:
            parts.append(rate_text(rate))
        parts.append(ESTIMATING if left is None else f"about {duration_text(left)} left")
        self.overall_text.setText(" · ".join(parts))

    def _show_entry(self, name: str, fraction: float) -> None:
        more = len(self._pending) - 1 if name in self._pending else 0
        self.current_text.setText(f"{name} (+{more} more in this batch)" if more > 0 else name)
        self.current_text.setToolTip(name)
        self.current.setValue(round(_BAR_SCALE * min(max(fraction, 0.0), 1.0)))

    def _show_current(self) -> None:
        """Without a layout from Progress: the oldest unfinished entry, and how far its batch has come."""
        if self._laid_out:
            return
        if not self._pending:
            self.current.setValue(0)
            self.current_text.setText("")
            return
        first = next(iter(self._pending))
        batch = sum(self._pending.values())
        self._show_entry(first, (self._done - self._finished_bytes) / batch if batch else 0.0)
