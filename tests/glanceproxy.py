"""A real HTTP proxy in front of the test Glance, for faults Glance itself does not make:
a 503 to the first request whose path ends with a given suffix (as a load balancer
answers while a backend restarts), a request body read at a limited rate or not at all
(a stalled link), and one byte of an image body altered on the way (a tampering hop)."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class Faults:
    busy_once: str | None = None  # a path suffix: the first such PUT gets 503 (its body read first)
    rate: int | None = None  # bytes a second a request body is read at
    stall: bool = False  # image bodies (PUT .../file or .../stage) are never read
    tamper: bool = False  # the middle byte of an image body is flipped before Glance gets it
    seen: Counter[str] = field(default_factory=Counter)  # "METHOD suffix" -> count
    released: threading.Event = field(default_factory=threading.Event)  # set when the proxy stops


class _Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int]
    faults: Faults

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> bytes | None:
        """The request body, or None when the client went away before sending all of it."""
        length = int(self.headers.get("Content-Length") or 0)
        parts, left = [], length
        while left:
            block = self.rfile.read(min(left, 64 << 10 if self.faults.rate else 1 << 20))
            if not block:
                break
            parts.append(block)
            left -= len(block)
            if self.faults.rate:
                time.sleep(len(block) / self.faults.rate)
        return b"".join(parts) if not left else None

    def _forward(self) -> None:
        image_body = self.command == "PUT" and self.path.endswith(("/file", "/stage"))
        if image_body and self.faults.stall:
            self.faults.seen["stalled"] += 1
            self.faults.released.wait()  # reads nothing until the proxy stops
            self.close_connection = True
            return
        body = self._body()
        if body and image_body and self.faults.tamper:
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
        if body is None:
            self.close_connection = True
            return
        suffix = self.path.rsplit("/", 1)[-1]
        self.faults.seen[f"{self.command} {suffix}"] += 1
        busy = self.faults.busy_once
        if (
            busy
            and self.command == "PUT"
            and self.path.endswith(busy)
            and self.faults.seen[f"PUT {suffix}"] == 1
        ):
            message = b"503 Service Unavailable: the backend is restarting"
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)
            return
        connection = http.client.HTTPConnection(*self.upstream, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        connection.request(self.command, self.path, body=body or None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        connection.close()

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _forward


@contextmanager
def proxy(upstream: str, faults: Faults) -> Iterator[str]:
    """The proxy's endpoint, for as long as the block runs."""
    parts = urlsplit(upstream)
    handler = type("Handler", (_Proxy,), {"upstream": (parts.hostname, parts.port), "faults": faults})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        faults.released.set()
        server.shutdown()
        server.server_close()
        thread.join()
