"""One window per user: a second `diskscope-gui FILE` hands FILE to the running one.

The first instance listens on a local socket in the user's runtime folder
(XDG_RUNTIME_DIR, private to the user), readable by that user only. A later
instance connects, sends its absolute paths as one JSON line, waits for the
answer (the paths the window took) and exits; the window opens them and raises
itself. A socket left behind by a crashed instance is removed and taken over.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

CONNECT_MS = 1000  # a live instance answers at once; only a dead socket file waits this long
ANSWER_MS = 30_000  # the running window may be busy for a moment


def socket_name() -> str:
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.RuntimeLocation)
    return str(Path(folder) / f"diskscope-{os.getuid()}.socket")


def hand_over(paths: list[str], name: str | None = None) -> list[str] | None:
    """Give `paths` to the running window; the paths it took, or None when none runs."""
    socket = QLocalSocket()
    socket.connectToServer(name or socket_name())
    if not socket.waitForConnected(CONNECT_MS):
        return None
    socket.write(json.dumps([os.path.abspath(p) for p in paths]).encode() + b"\n")
    socket.flush()
    answer = b""
    while not answer.endswith(b"\n") and socket.waitForReadyRead(ANSWER_MS):
        answer += socket.readAll().data()
    socket.disconnectFromServer()
    try:
        taken = json.loads(answer)
    except ValueError:
        return None  # it went away mid-way: start a window of our own
    return [str(p) for p in taken] if isinstance(taken, list) else None


class InstanceServer(QObject):
    """Listens for later instances; `open_paths` gets their paths, `raise_window` is called after."""

    def __init__(
        self,
        open_paths: Callable[[list[str]], None],
        raise_window: Callable[[], None],
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.open_paths, self.raise_window = open_paths, raise_window
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._connected)
        self.name = name or socket_name()

    def listen(self) -> bool:
        """Listen; False if another instance already does (it started at the same moment)."""
        if self.server.listen(self.name):
            return True
        probe = QLocalSocket()
        probe.connectToServer(self.name)
        if probe.waitForConnected(CONNECT_MS):
            probe.disconnectFromServer()
            return False
        QLocalServer.removeServer(self.name)  # left behind by an instance that crashed
        return self.server.listen(self.name)

    @Slot()
    def _connected(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(partial(self._read, socket))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            return
        try:
            paths = json.loads(bytes(socket.readLine().data()))
        except ValueError:
            socket.disconnectFromServer()
            return
        taken = [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []
        if taken:
            self.open_paths(taken)
        self.raise_window()
        socket.write(json.dumps(taken).encode() + b"\n")
        socket.flush()
