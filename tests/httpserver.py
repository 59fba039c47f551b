"""A real HTTP server on 127.0.0.1 for download tests, with Range support and faults.

Each fault is a path prefix, e.g. /cut/disk.qcow2; the file part names a served file.
The server records every request's path and headers for the tests to check.
`drip_after` makes /files/ send that many bytes, then one byte every `drip_seconds`;
`glance_images` are served as Glance v2 records at /v2/images/ID (data at .../file).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ImageServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stall_seconds = 5.0
        self.drip_after: int | None = None
        self.drip_seconds = 20.0
        self.dripping = threading.Event()  # set once the quick part of a drip was sent
        self.closing = threading.Event()
        self.glance_images: dict[str, dict[str, object]] = {}
        self.scheme = "http"

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    def url(self, name: str, fault: str = "files") -> str:
        return f"{self.base}/{fault}/{name}"


class Handler(BaseHTTPRequestHandler):
    server: ImageServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests.append((self.path, dict(self.headers)))
            self.server.hits[self.path] += 1
            hit = self.server.hits[self.path]
        _, fault, *rest = self.path.split("/", 2)
        name = rest[0] if rest else ""
        if fault == "redirect-loop":
            return self._redirect(self.path)
        if fault == "redirect-ftp":
            return self._redirect(f"ftp://127.0.0.1/{name}")
        if fault == "redirect-host":
            port = self.server.server_address[1]
            return self._redirect(f"http://localhost:{port}/files/{name}")
        if fault == "v2":
            image_id, _, tail = name.removeprefix("images/").partition("/")
            if not tail:
                record = self.server.glance_images.get(image_id)
                if record is None:
                    return self._plain(404, b"no such image", "text/plain")
                return self._plain(200, json.dumps(record).encode(), "application/json")
            fault, name = "files", image_id
        data = self.server.files.get(name)
        if data is None:
            return self._plain(404, b"<html>not found</html>", "text/html")
        if fault == "html":
            return self._plain(200, b"<html><body>Error: login required</body></html>", "text/html")
        if fault == "flaky500" and hit == 1:
            return self._plain(500, b"try again", "text/plain")
        if fault == "gzip":
            return self._plain(
                200, gzip.compress(data), "application/octet-stream", {"Content-Encoding": "gzip"}
            )
        start = 0
        honour_range = fault not in ("norange",)
        range_header = self.headers.get("Range")
        if range_header and honour_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(data) or fault == "cut-416":  # cut-416: a lie, the file goes on
                return self._plain(416, b"", "text/plain")
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Type", "application/octet-stream")
        if fault in ("md5", "badmd5"):
            md5 = hashlib.md5(data if fault == "md5" else data + b"x").hexdigest()
            self.send_header("Content-MD5", md5)
        length = len(body) + (1000 if fault == "wronglength" else 0) - (1000 if fault == "longer" else 0)
        if fault == "nolength":  # the body ends when the connection closes
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if fault in ("cut", "cut-norange", "norange", "cut-416") and hit == 1:
            self._write(body[: len(body) // 2])
            self.close_connection = True
            return
        if fault == "stall":
            self._write(body[: len(body) // 4])
            time.sleep(self.server.stall_seconds)
            self.close_connection = True
            return
        if fault == "reset" and hit == 1:
            self._write(body[: len(body) // 3])
            import socket
            import struct

            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if fault == "trickle":
            for i in range(min(len(body), 2048)):  # byte by byte at first
                self._write(body[i : i + 1])
                time.sleep(0.0005)
            self._write(body[2048:])
            return
        if fault == "files" and self.server.drip_after is not None:
            return self._drip(body, self.server.drip_after)
        if fault == "slow" and hit == 1:
            for i in range(0, len(body), 64 * 1024):
                self._write(body[i : i + 64 * 1024])
                time.sleep(0.05)
            return
        self._write(body)
        if fault == "wronglength":
            self.close_connection = True

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return False
        return True

    def _drip(self, body: bytes, quick: int) -> None:
        """A server that never quite stops: the first bytes at once, then one at a time."""
        self._write(body[:quick])
        self.wfile.flush()
        self.server.dripping.set()
        for i in range(quick, len(body)):
            if self.server.closing.wait(self.server.drip_seconds) or not self._write(body[i : i + 1]):
                self.close_connection = True
                return

    def _plain(self, code: int, body: bytes, kind: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self._write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def serving(tls: tuple[str, str] | None = None) -> Iterator[ImageServer]:
    """The server in a thread; with `tls` (certificate file, key file) it speaks https."""
    server = ImageServer()
    if tls is not None:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.closing.set()
        server.shutdown()
        server.server_close()
        thread.join()
