"""The single-instance channel: a second launch hands its paths to the first and exits."""

from __future__ import annotations

import socket
import sys
import uuid
from pathlib import Path

import pytest
from PySide6.QtCore import QDir
from pytestqt.qtbot import QtBot

from lmarchive_gui.main_window import MainWindow
from lmarchive_gui.single_instance import InstanceServer, send_paths, server_name

from .conftest import make_archive


def test_server_name_depends_on_the_user_only() -> None:
    assert server_name("alice") == server_name("alice") != server_name("bob")
    assert server_name("alice/../x y").startswith("lmarchive-gui-")
    assert server_name().isascii()


def test_second_launch_hands_paths_to_the_first(qtbot: QtBot, window: MainWindow, sample: Path, tmp_path: Path) -> None:
    name = f"lmarchive-test-{uuid.uuid4().hex}"
    assert not send_paths(name, ["/nothing"]), "no instance yet: the launch goes on to start one"
    first = InstanceServer(name)
    assert first.listen()
    first.paths_received.connect(window.open_from_os)

    second = InstanceServer(name)
    assert not second.listen(), "a running instance keeps the channel"

    archive = make_archive(tmp_path / "docs.lmz", sample)
    with qtbot.waitSignal(first.paths_received, timeout=5000) as received:
        assert send_paths(name, [str(archive)])
    assert received.args == [[str(archive)]]
    assert window.archive == archive and window.model.rowCount() == 6
    first.close()


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes leave nothing behind")
def test_stale_socket_is_taken_over(qtbot: QtBot) -> None:
    """A crashed instance leaves its socket file; the next launch must not mistake it for a live one."""
    name = f"lmarchive-test-{uuid.uuid4().hex}"
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(str(Path(QDir.tempPath()) / name))
    leftover.close()
    again = InstanceServer(name)
    assert again.listen()
    with qtbot.waitSignal(again.paths_received, timeout=5000) as received:
        assert send_paths(name, [])
    assert received.args == [[]]
    again.close()
