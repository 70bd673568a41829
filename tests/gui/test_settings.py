"""Settings: persisted where platformdirs says, reloaded, validated field by field, migrated by version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QLabel
from pytestqt.qtbot import QtBot

import lmarchive
from lmarchive.codec import ChunkPlan
from lmarchive.jobs import AddJob, CreateJob
from lmarchive.models.registry import resolve
from lmarchive_gui.main_window import MainWindow
from lmarchive_gui.profiles import NO_LM_NOTE
from lmarchive_gui.settings import SCHEMA_VERSION, Settings, SettingsStore, cache_dir, config_dir, log_dir
from lmarchive_gui.settings_dialog import SettingsDialog
from lmarchive_gui.worker import InlineWorker
from lmarchive_gui.worker_process import JobRequest
from lmarchive_gui.write_flow import chunk_plan


def test_folders_follow_platformdirs(private_dirs: Path) -> None:
    assert config_dir() == private_dirs / "xdg_config_home" / "lmarchive"
    assert cache_dir().is_relative_to(private_dirs) and log_dir().is_relative_to(private_dirs)


def test_settings_persist_and_reload(qtbot: QtBot, private_dirs: Path, tmp_path: Path) -> None:
    window = MainWindow(SettingsStore(), InlineWorker())
    qtbot.addWidget(window)
    chosen = Settings(
        threads=2, chunk_kib=256, double_click="extract", extract_folder=str(tmp_path), overwrite="always"
    )
    window.apply_settings(chosen.with_recent(tmp_path / "a.lmz"))

    saved = json.loads((config_dir() / "settings.json").read_text())
    assert saved["version"] == SCHEMA_VERSION and saved["overwrite"] == "always" and saved["chunk_kib"] == 256
    reloaded = MainWindow(SettingsStore(), InlineWorker())
    qtbot.addWidget(reloaded)
    assert reloaded.settings == window.settings
    assert reloaded.settings.chunk_kib == 256
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
        "chunk_kib": 100,
        "double_click": "extract",
        "extract_folder": "relative/folder",
        "overwrite": "sometimes",
        "recent": ["/a.lmz", "/a.lmz", 7, "relative.lmz"],
    }
    path.write_text(json.dumps(document))
    loaded = SettingsStore(path).load()
    assert loaded == Settings(double_click="extract", recent=("/a.lmz",))


@pytest.mark.parametrize("value", [100, 0, 32768, "256", 256.0, True, None])
def test_a_bad_chunk_size_falls_back_to_the_default(tmp_path: Path, value: object) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": SCHEMA_VERSION, "chunk_kib": value, "threads": 3}))
    assert SettingsStore(path).load() == Settings(threads=3)


def test_a_file_from_before_the_chunk_setting_loads(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": 1, "threads": 3, "overwrite": "never"}))
    assert SettingsStore(path).load() == Settings(threads=3, overwrite="never", chunk_kib=0)


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


def test_dialog_shows_and_returns_the_chunk_size(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings(chunk_kib=4096))
    qtbot.addWidget(dialog)
    labels = [dialog.chunk.itemText(i) for i in range(dialog.chunk.count())]
    assert labels == ["Automatic: what the model codes best (default)", "64 KiB", "256 KiB", "1 MiB", "4 MiB", "16 MiB"]
    assert dialog.chunk.currentText() == "4 MiB" and dialog.settings().chunk_kib == 4096
    assert "more parallelism" in dialog.chunk_note.text()
    dialog.chunk.setCurrentIndex(dialog.chunk.findData(64))
    assert dialog.settings() == Settings(chunk_kib=64)
    dialog.restore_defaults()
    assert dialog.settings().chunk_kib == 0


class RecordingWorker(InlineWorker):
    """Runs jobs inline and keeps each request, to see what the window asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[JobRequest] = []

    def submit(self, request: JobRequest) -> None:
        self.requests.append(request)
        super().submit(request)


def test_create_and_add_requests_carry_the_chunk_size(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = RecordingWorker()
    window = MainWindow(SettingsStore(tmp_path / "settings.json"), worker)
    qtbot.addWidget(window)
    window.apply_settings(Settings(chunk_kib=64))
    (tmp_path / "a.txt").write_text("some text to pack")
    (tmp_path / "b.txt").write_text("more text to add")
    monkeypatch.setattr(window, "ask_new_archive_path", lambda default: str(tmp_path / "a.lmz"))
    window.add_paths([str(tmp_path / "a.txt")])
    window.add_paths([str(tmp_path / "b.txt")])
    created, added = (r.task for r in worker.requests)
    assert isinstance(created, CreateJob) and isinstance(added, AddJob)
    assert created.plan == added.plan == ChunkPlan(min_size=64 << 10, max_size=64 << 10)
    with lmarchive.open(tmp_path / "a.lmz") as lmz:
        assert sorted(lmz.namelist()) == ["a.txt", "b.txt"]
    assert chunk_plan(4096) == ChunkPlan(max_size=4 << 20)
    assert chunk_plan(0) is None  # automatic: the model's own plan


CONCRETE = ("cm2", "cmx", "lmb-s1", "lmt-s1", "cmx+lmb-s1")


def test_models_are_chosen_by_purpose_and_speed(qtbot: QtBot) -> None:
    """Profiles in plain words; model ids only in the Advanced group, which starts closed."""
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    dialog.show()
    labels = [dialog.profile.itemText(i) for i in range(dialog.profile.count())]
    assert labels[:2] == [
        "Fast — no language model, about 500 kB/s",
        "Default — smallest archives, about 30 kB/s (recommended)",
    ]
    assert dialog.profile.currentData() == "default" and not dialog.advanced.isChecked()
    shown = [w.text() for w in dialog.findChildren(QLabel) if not dialog.advanced_box.isAncestorOf(w)] + labels
    assert not [t for t in shown for model in CONCRETE if model in t.replace("—", " ").split()], shown
    assert "30 kB/s" in dialog.profile_note.text() and dialog.profile_note.text().endswith(NO_LM_NOTE)
    dialog.profile.setCurrentIndex(dialog.profile.findData("fast"))
    assert "1 MB/s to extract" in dialog.profile_note.text() and dialog.settings().model == "fast"

    models = [dialog.model.itemData(i) for i in range(dialog.model.count())]
    assert {"cm2", "cmx"} <= set(models) and not set(models) & {"fast", "default", "lm"}
    cmx = "cmx — the adaptive context models, mixed (the Fast and Default profiles)"
    assert dialog.model.itemText(models.index("cmx")) == cmx, "here, without the LM, Default is cmx too"
    assert not dialog.model.isVisibleTo(dialog), "the ids stay out of sight until Advanced is ticked"
    dialog.advanced.setChecked(True)
    assert dialog.model.isVisibleTo(dialog) and dialog.model.currentData() == resolve("default")
    dialog.model.setCurrentIndex(models.index("cm2"))
    assert dialog.settings().model == "cm2" and not dialog.profile.isEnabled()
    dialog.restore_defaults()
    assert not dialog.advanced.isChecked() and dialog.settings().model == "default"


def test_settings_naming_a_model_open_the_advanced_group(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Settings(model="cmx"))
    qtbot.addWidget(dialog)
    assert dialog.advanced.isChecked() and dialog.model.currentData() == "cmx"
    assert dialog.settings() == Settings(model="cmx")


def test_the_open_folder_is_saved_and_validated(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.json")
    store.save(Settings(last_folder=str(tmp_path)))
    assert store.load().last_folder == str(tmp_path)
    (tmp_path / "settings.json").write_text(json.dumps({"version": SCHEMA_VERSION, "last_folder": "rel/ative"}))
    assert store.load() == Settings()
