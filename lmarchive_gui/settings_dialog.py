"""The Settings dialog: edits a copy of :class:`~lmarchive_gui.settings.Settings`; the window saves and applies it.

Only knobs the core really has are offered.  The model is chosen by purpose and speed among the
profiles; a concrete model id (what archives record) can be picked only in the Advanced group, which
stays closed unless the settings already name one.  The largest chunk caps the size the core picks
per entry (it still aims at 16 chunks an entry, never under 64 KiB, and stores incompressible data in
chunks of the largest size).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from lmarchive.device import DEVICES
from lmarchive.models.registry import DEFAULT_MODEL, PROFILES, available_models, resolve
from lmarchive.models.threads import DEFAULT_MAX_THREADS
from lmarchive_gui.profiles import model_label, profile_label, profile_note
from lmarchive_gui.settings import CHUNK_KIB_CHOICES, DOUBLE_CLICK_CHOICES, MAX_THREADS, OVERWRITE_CHOICES, Settings

DEVICE_LABELS = {"auto": "Automatic", "cpu": "CPU", "cuda": "CUDA (NVIDIA GPU)"}
DEVICE_NOTES = {
    "auto": "A CUDA GPU when PyTorch sees one, otherwise the CPU. Archives are identical either way.",
    "cpu": "Always the CPU.",
    "cuda": "An NVIDIA GPU; jobs stop with a clear message when none is usable.",
}
CHUNK_LABELS = {
    0: "Automatic: what the model codes best (default)",
    64: "64 KiB",
    256: "256 KiB",
    1024: "1 MiB",
    4096: "4 MiB",
    16384: "16 MiB",
}
CHUNK_NOTE = "Smaller chunks decode with more parallelism and use less memory; larger ones compress a little better."
DOUBLE_CLICK_LABELS = {"show": "Show its contents", "extract": "Extract it next to the archive"}
OVERWRITE_LABELS = {"ask": "Ask me", "never": "Never replace (stop with an error)", "always": "Always replace"}


def _combo(choices: dict[str, str] | dict[int, str] | list[tuple[str, str]], current: str | int) -> QComboBox:
    combo = QComboBox()
    for value, label in choices.items() if isinstance(choices, dict) else choices:
        combo.addItem(label, value)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._original = settings

        names = available_models()
        profiles = [name for name in names if name in PROFILES]
        concrete = [name for name in names if name not in PROFILES]
        self.profile = _combo([(p, profile_label(p)) for p in profiles], settings.model)
        if settings.model not in profiles:
            self.profile.setCurrentIndex(max(0, self.profile.findData(DEFAULT_MODEL)))
        self.profile.setToolTip("How new entries are coded; archives remember what they need to be opened")
        self.profile_note = QLabel()
        self.profile_note.setWordWrap(True)
        self.profile.currentIndexChanged.connect(self._show_profile)
        self.model = _combo([(m, model_label(m)) for m in concrete], settings.model)
        self.model.setToolTip("The exact model id that new entries are coded with, and that archives record")
        # The descriptions are long: let the list be narrower than they are rather than squeeze out the label.
        self.model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model.setMinimumContentsLength(24)
        self.advanced = QCheckBox("&Advanced: code with a specific model")
        self.advanced.setChecked(settings.model in concrete)
        self.advanced_box = QGroupBox()
        QFormLayout(self.advanced_box).addRow("&Model:", self.model)
        if settings.model not in concrete:
            self._select_profiles_model()
        self.advanced.toggled.connect(self._advanced_toggled)
        self.device = _combo({d: DEVICE_LABELS.get(d, d.upper()) for d in DEVICES}, settings.device)
        self.device_note = QLabel()
        self.device_note.setWordWrap(True)
        self.device.currentIndexChanged.connect(self._show_device)
        self.threads = QSpinBox()
        self.threads.setRange(0, min(MAX_THREADS, max(os.cpu_count() or 1, 1)))
        self.threads.setSpecialValueText(f"Automatic (up to {DEFAULT_MAX_THREADS})")
        self.threads.setValue(min(settings.threads, self.threads.maximum()))
        self.threads.setToolTip(
            "How many chunks are coded at the same time, one thread each, when compressing and extracting.\n"
            "More threads help archives of several files; each costs memory (about 110 MB with the\n"
            "Fast and Default profiles). Archives are identical whatever the number. Applies from the next job."
        )
        self.chunk = _combo({c: CHUNK_LABELS[c] for c in CHUNK_KIB_CHOICES}, settings.chunk_kib)
        self.chunk.setToolTip("Applies to entries added from now on; existing entries keep their chunks")
        self.chunk_note = QLabel(CHUNK_NOTE)
        self.chunk_note.setWordWrap(True)
        self.double_click = _combo({c: DOUBLE_CLICK_LABELS[c] for c in DOUBLE_CLICK_CHOICES}, settings.double_click)
        self.double_click.setToolTip("What happens when you double-click an .lmz file in your file manager")
        self.extract_folder = QLineEdit(settings.extract_folder)
        self.extract_folder.setPlaceholderText("Next to the archive")
        self.extract_folder.setClearButtonEnabled(True)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QWidget()
        folder_layout = QHBoxLayout(folder_row)
        folder_layout.setContentsMargins(0, 0, 0, 0)
        folder_layout.addWidget(self.extract_folder, 1)
        folder_layout.addWidget(browse)
        self.overwrite = _combo({c: OVERWRITE_LABELS[c] for c in OVERWRITE_CHOICES}, settings.overwrite)

        coding = QGroupBox("Compression")
        form = QFormLayout(coding)
        form.addRow("&Profile:", self.profile)
        form.addRow("", self.profile_note)
        form.addRow("&Device:", self.device)
        form.addRow("", self.device_note)
        form.addRow("&Threads:", self.threads)
        form.addRow("&Largest chunk:", self.chunk)
        form.addRow("", self.chunk_note)
        opening = QGroupBox("Opening and extracting")
        form = QFormLayout(opening)
        form.addRow("Opening an .lmz &file:", self.double_click)
        form.addRow("&Extract to:", folder_row)
        form.addRow("When a file e&xists:", self.overwrite)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        restore = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        restore.clicked.connect(self.restore_defaults)
        layout = QVBoxLayout(self)
        layout.addWidget(coding)
        layout.addWidget(opening)
        layout.addWidget(self.advanced)
        layout.addWidget(self.advanced_box)
        layout.addWidget(buttons)
        self.setMinimumWidth(480)
        self._show_device()
        self._show_profile()

    def _show_profile(self) -> None:
        """The chosen profile's note; a specific model, when chosen, overrides the profile.  The model
        list shows only while Advanced is ticked (a disclosure, so the ids stay out of sight)."""
        advanced = self.advanced.isChecked()
        self.profile.setEnabled(not advanced)
        self.advanced_box.setVisible(advanced)
        self.profile_note.setText("Set by Advanced below." if advanced else profile_note(self.profile.currentData()))

    def _advanced_toggled(self, checked: bool) -> None:
        if checked:
            self._select_profiles_model()
        self._show_profile()

    def _select_profiles_model(self) -> None:
        """Start the model list at what the chosen profile codes with, so ticking Advanced changes nothing."""
        found = self.model.findData(resolve(self.profile.currentData() or DEFAULT_MODEL))
        if found >= 0:
            self.model.setCurrentIndex(found)

    def _show_device(self) -> None:
        """What the choice means; resolving it here would import PyTorch and freeze the dialog."""
        self.device_note.setText(DEVICE_NOTES.get(self.device.currentData(), ""))

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Default extraction folder", self.extract_folder.text())
        if folder:
            self.extract_folder.setText(folder)

    def restore_defaults(self) -> None:
        defaults = Settings()
        self.advanced.setChecked(False)
        for combo, value in (
            (self.profile, defaults.model),
            (self.device, defaults.device),
            (self.double_click, defaults.double_click),
            (self.overwrite, defaults.overwrite),
            (self.chunk, defaults.chunk_kib),
        ):
            combo.setCurrentIndex(max(0, combo.findData(value)))
        self.threads.setValue(defaults.threads)
        self.extract_folder.setText(defaults.extract_folder)

    def accept(self) -> None:
        folder = self.extract_folder.text().strip()
        if folder and not Path(folder).is_absolute():
            QMessageBox.warning(self, "Settings", f"The extraction folder must be a full path, not {folder!r}.")
            return
        super().accept()

    def settings(self) -> Settings:
        """The settings as edited (the recent list is not edited here and is kept)."""
        return replace(
            self._original,
            model=self.model.currentData() if self.advanced.isChecked() else self.profile.currentData(),
            device=self.device.currentData(),
            threads=self.threads.value(),
            chunk_kib=self.chunk.currentData(),
            double_click=self.double_click.currentData(),
            extract_folder=self.extract_folder.text().strip(),
            overwrite=self.overwrite.currentData(),
        )
