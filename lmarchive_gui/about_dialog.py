"""About LM Archive: versions, the model and its fingerprint, the device, and a selftest button.

The facts shown are what a bug report needs; the selftest (see :mod:`lmarchive.selftest`) lets a user
prove on their own machine that coding and decoding agree exactly.  The model's fingerprint and
the device come from the worker process: finding them means loading the model and, for
'automatic' on a machine with a CUDA driver, PyTorch, which would freeze the window for seconds
if done here.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

import numpy
import PySide6
from PySide6.QtCore import Qt, Signal, qVersion
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import lmarchive
from lmarchive_gui import APP_NAME
from lmarchive_gui.settings import Settings, config_dir, log_dir


def torch_version() -> str:
    """PyTorch's version without importing it (slow), or a plain statement that it is absent."""
    try:
        return version("torch")
    except PackageNotFoundError:
        return "not installed (needed only to run models on a CUDA GPU)"


def environment_rows() -> list[tuple[str, str]]:
    """(label, value) pairs the GUI process knows without loading a model or PyTorch."""
    return [
        ("Version", lmarchive.__version__),
        ("numpy", numpy.__version__),
        ("PyTorch", torch_version()),
        ("Qt", f"{qVersion()} (PySide6 {PySide6.__version__})"),
        ("Python", f"{platform.python_version()} on {platform.system()} {platform.machine()}"),
        ("Settings", str(config_dir())),
        ("Logs", str(log_dir())),
    ]


WORKER_FACTS = ("Model", "Fingerprint", "Device")
"""Rows the worker process fills in: it is where models and devices are loaded."""


class AboutDialog(QDialog):
    """Non-modal, so a selftest can run while it stays open; the window runs the test and reports back."""

    selftest_requested = Signal()

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        title = QLabel(f"{APP_NAME} {lmarchive.__version__}")
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        title.setFont(font)
        blurb = QLabel(
            "A lossless archiver whose entries are coded by a model driving an arithmetic coder. "
            "Every entry shows its ratio next to what gzip -9 would have achieved."
        )
        blurb.setWordWrap(True)

        form = QFormLayout()
        self.fields: dict[str, QLabel] = {}
        rows = [("Version", lmarchive.__version__), *((name, "checking…") for name in WORKER_FACTS)]
        for label, value in rows + environment_rows()[1:]:
            field = QLabel(value)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            field.setContentsMargins(0, 0, 0, 2)  # some fonts draw '_' below their descent: keep it visible
            form.addRow(f"{label}:", field)
            self.fields[label] = field
        self.fields["Model"].setText(settings.model)

        self.selftest_button = QPushButton("Run selftest")
        self.selftest_button.setToolTip(
            f"Create an archive of sample files with {settings.model}, test it, extract it and compare"
        )
        self.selftest_button.clicked.connect(self._start)
        self.selftest_button.setEnabled(False)  # until the worker has answered (see show_facts)
        self.selftest_result = QLabel("Checks that this machine codes and decodes exactly.")
        self.selftest_result.setWordWrap(True)
        self.selftest_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(self.selftest_button)
        row.addWidget(self.selftest_result, 1)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(blurb)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(buttons)
        self.resize(560, self.sizeHint().height())

    def _start(self) -> None:
        self.selftest_button.setEnabled(False)
        self.selftest_result.setText("Running…")
        self.selftest_requested.emit()

    def show_facts(self, facts: tuple[tuple[str, str], ...]) -> None:
        """The worker's answers (model, fingerprint, device); the worker is free for a selftest now."""
        for label, value in facts:
            if label in self.fields:
                self.fields[label].setText(value)
        self.selftest_button.setEnabled(True)

    def show_facts_unavailable(self, reason: str) -> None:
        for label in WORKER_FACTS[1:]:
            self.fields[label].setText(reason)
        self.selftest_button.setEnabled(True)

    def show_selftest_result(self, report: str) -> None:
        self.selftest_button.setEnabled(True)
        self.selftest_result.setText(report)
