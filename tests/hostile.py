"""Hostile servers on 127.0.0.1 for the network tests, each a real server in a thread.

The test chooses every answer (a redirect anywhere, Glance pages that never end,
names full of escape sequences); the server records each request: whether it came
over TLS, its path and its headers.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TLS_HANDSHAKE = 0x16  # the first byte of every TLS connection


@dataclass(frozen=True)
class Seen:
    tls: bool
    path: str
    headers: dict[str, str]


class HostileServer(ThreadingHTTPServer):
    """With `tls`, speaks https and plain http on the same port, telling them apart by the
    first byte, so that `https://127.0.0.1:P/` can redirect to `http://127.0.0.1:P/`: the
    same host and port, only the scheme differs."""

    daemon_threads = True

    def __init__(self, answer: Callable[[Handler], None], tls: tuple[str, str] | None, host: str) -> None:
        super().__init__((host, 0), Handler)
        self.answer = answer
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.context: ssl.SSLContext | None = None
        if tls is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(*tls)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.context is not None and sock.recv(1, socket.MSG_PEEK) == bytes([TLS_HANDSHAKE]):
            sock = self.context.wrap_socket(sock, server_side=True)
        return sock, address

    def url(self, path: str, scheme: str | None = None) -> str:
        host, port = self.server_address[:2]
        return f"{scheme or ('https' if self.context else 'http')}://{host}:{port}{path}"

    def record(self, handler: Handler) -> None:
        seen = Seen(isinstance(handler.connection, ssl.SSLSocket), handler.path, dict(handler.headers))
        with self.lock:
            self.seen.append(seen)

    def values(self, header: str) -> list[str]:
        """Every value of `header` the server received."""
        with self.lock:
            return [s.headers[header] for s in self.seen if header in s.headers]


class Handler(BaseHTTPRequestHandler):
    server: HostileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.server.record(self)
        try:
            self.server.answer(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None,
             reason: str | None = None) -> None:  # fmt: skip
        self.send_response(code, reason)
        for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, data: object) -> None:
        self.send(200, json.dumps(data).encode(), {"Content-Type": "application/json"})

    def redirect(self, location: str) -> None:
        self.send(302, headers={"Location": location})


@contextmanager
def hostile(
    answer: Callable[[Handler], None], tls: tuple[str, str] | None = None, host: str = "127.0.0.1"
) -> Iterator[HostileServer]:
    server = HostileServer(answer, tls, host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def glance_image(image_id: str, **fields: object) -> dict[str, object]:
    """A Glance v2 image record, active and bare unless `fields` say otherwise."""
    return {"id": image_id, "name": image_id, "status": "active", "disk_format": "raw",
            "container_format": "bare", "size": None, "visibility": "public", **fields}  # fmt: skip
