"""One window per user: a second launch hands its paths to the running instance and exits.

That is how a double-click in the file manager opens the archive in the window already open,
instead of starting a second app with a second worker process.  The channel is a QLocalServer
(a Unix socket, or a named pipe on Windows) whose name is derived from the user name, so users
on one machine never reach each other's instance; the socket is also made private to the user.
Messages are one JSON object per connection: ``{"paths": [absolute paths]}``.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from lmarchive_gui import APP_ID

log = logging.getLogger(__name__)

TIMEOUT_MS = 1000


def server_name(user: str | None = None) -> str:
    """The channel's name for ``user`` (default: the current one); hashed, so any user name is safe in it."""
    if user is None:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no login name in the environment or the password database
            user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return f"{APP_ID}-gui-{hashlib.sha256(user.encode()).hexdigest()[:16]}"


def send_paths(name: str, paths: list[str], timeout_ms: int = TIMEOUT_MS) -> bool:
    """Give ``paths`` to the instance listening on ``name``; False when there is none."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(timeout_ms):
        return False
    socket.write(json.dumps({"paths": paths}).encode("utf-8"))
    delivered = socket.waitForBytesWritten(timeout_ms) or socket.bytesToWrite() == 0
    socket.disconnectFromServer()
    if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
        socket.waitForDisconnected(timeout_ms)
    return delivered


class InstanceServer(QObject):
    """Listens for later launches and emits the paths each one hands over."""

    paths_received = Signal(list)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)
        self._buffers: dict[QLocalSocket, bytearray] = {}

    def listen(self) -> bool:
        """Start listening; False if another instance already does (it won a start-up race).

        The check comes first because a user-only socket is put in place by a rename, which would
        silently take the name from a live instance.  A socket left by a crashed instance answers
        no one, so it is removed and taken over.
        """
        probe = QLocalSocket()
        probe.connectToServer(self.name)
        if probe.waitForConnected(TIMEOUT_MS):
            probe.disconnectFromServer()
            return False
        if not self._server.listen(self.name):
            QLocalServer.removeServer(self.name)
            if not self._server.listen(self.name):
                log.warning(
                    "cannot listen on %s (%s): later launches will open windows of their own",
                    self.name,
                    self._server.errorString(),
                )
        return True

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        # Slots are bound methods that find their socket with sender(): a lambda holding the socket's
        # wrapper would outlive it inside its own connections and crash its deferred deletion.
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            self._buffers[socket] = bytearray()
            socket.readyRead.connect(self._ready_read)
            socket.disconnected.connect(self._disconnected)
            self._read(socket)
            if socket.state() == QLocalSocket.LocalSocketState.UnconnectedState:
                self._done(socket)

    def _ready_read(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket):
            self._read(socket)

    def _disconnected(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket):
            self._done(socket)

    def _read(self, socket: QLocalSocket) -> None:
        if socket in self._buffers:
            self._buffers[socket] += bytes(socket.readAll().data())

    def _done(self, socket: QLocalSocket) -> None:
        """The sender hung up: its message is complete.  Runs once per socket (a second call finds no buffer)."""
        if socket not in self._buffers:
            return
        self._read(socket)
        data = self._buffers.pop(socket)
        socket.deleteLater()
        try:
            message = json.loads(data.decode("utf-8"))
            paths = message["paths"]
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise TypeError("paths must be a list of strings")
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            log.warning("ignored a malformed message from another launch: %s", exc)
            return
        self.paths_received.emit(paths)
