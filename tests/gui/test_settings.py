"""Settings: persisted where platformdirs says, reloaded, validated field by field, migrated by version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from app.main_window import MainWindow
from app.settings import SCHEMA_VERSION, Settings, SettingsStore, cache_dir, config_dir, log_dir
from app.settings_dialog import SettingsDialog
from app.worker import InlineWorker


def test_folders_follow_platformdirs(private_dirs: Path) -> None:
    assert config_dir() == private_dirs / "xdg_config_home" / "lmarchive"
    assert cache_dir().is_relative_to(private_dirs) and log_dir().is_relative_to(private_dirs)


def test_settings_persist_and_reload(qtbot: QtBot, private_dirs: Path, tmp_path: Path) -> None:
    window = MainWindow(SettingsStore(), InlineWorker())
    qtbot.addWidget(window)
    chosen = Settings(threads=2, double_click="extract", extract_folder=str(tmp_path), overwrite="always")
    window.apply_settings(chosen.with_recent(tmp_path / "a.lmz"))

    saved = json.loads((config_dir() / "settings.json").read_text())
    assert saved["version"] == SCHEMA_VERSION and saved["overwrite"] == "always"
    reloaded = MainWindow(SettingsStore(), InlineWorker())
    qtbot.addWidget(reloaded)
    assert reloaded.settings == window.settings
    assert reloaded.settings.recent == (str(tmp_path / "a.lmz"),)
    assert reloaded.recent_menu.actions()[0].text() == "&1 a.lmz"


@pytest.mark.parametrize(
    "document",
    [{"version": 99, "threads": 3}, {"threads": 3}, [1, 2], {"version": "1"}],
    ids=["newer", "unversioned", "not-an-object", "version-as-text"],
)
def test_unknown_versions_migrate_to_defaults(tmp_path: Path, document: object) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(document))
    assert SettingsStore(path).load() == Settings()


def test_each_field_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    document = {
        "version": 1,
        "model": "gpt-17",
        "device": "quantum",
        "threads": -4,
        "double_click": "extract",
        "extract_folder": "relative/folder",
        "overwrite": "sometimes",
        "recent": ["/a.lmz", "/a.lmz", 7, "relative.lmz"],
    }
    path.write_text(json.dumps(document))
    loaded = SettingsStore(path).load()
    assert loaded == Settings(double_click="extract", recent=("/a.lmz",))


def test_damaged_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    assert SettingsStore(path).load() == Settings()
    assert SettingsStore(tmp_path / "absent.json").load() == Settings()


def test_dialog_edits_a_copy(qtbot: QtBot, tmp_path: Path) -> None:
    original = Settings(recent=("/x.lmz",))
    dialog = SettingsDialog(original)
    qtbot.addWidget(dialog)
    assert dialog.device_note.text().startswith("A CUDA GPU when PyTorch sees one")
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    assert dialog.device_note.text() == "Always the CPU."
    dialog.overwrite.setCurrentIndex(dialog.overwrite.findData("never"))
    dialog.threads.setValue(1)
    dialog.extract_folder.setText(str(tmp_path))
    assert dialog.settings() == Settings(
        device="cpu", threads=1, extract_folder=str(tmp_path), overwrite="never", recent=("/x.lmz",)
    )
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.RestoreDefaults).click()
    assert dialog.settings() == Settings(recent=("/x.lmz",))
