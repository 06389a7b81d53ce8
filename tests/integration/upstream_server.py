"""A local upstream HTTP server for the tests of models with a ``source``.

It serves files by path with ``Range`` support, and each file can be made
to misbehave: sent slowly, held before its last part until a test releases
it, cut after some bytes on the first request, answered with an error
status, left without an answer, or replaced by other bytes. It counts the
requests it received per path.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Upstream:
    """One file the server offers, and how it behaves."""

    data: bytes
    status: int = 200
    delay: float = 0.0  # seconds between chunks
    chunk: int = 64 * 1024
    cut_first_after: int | None = None  # the first response breaks off after this many bytes
    hang: bool = False  # never answers
    hold: threading.Event | None = None  # the last chunk waits for it
    announce_size: bool = True
    sent_first: threading.Event = field(default_factory=threading.Event)


class UpstreamServer:
    def __init__(self) -> None:
        self.files: dict[str, Upstream] = {}
        self.requests: Counter[str] = Counter()
        self.ranges: list[str | None] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, credentials: str = "") -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{credentials}{host}:{port}/{path.lstrip('/')}"

    def add(self, path: str, data: bytes, **behaviour: Any) -> Upstream:
        self.files["/" + path.lstrip("/")] = Upstream(data, **behaviour)
        return self.files["/" + path.lstrip("/")]

    def close(self) -> None:
        self._stop.set()
        for upstream in self.files.values():
            if upstream.hold is not None:
                upstream.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- serving ---------------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?")[0]
        self.requests[path] += 1
        first = self.requests[path] == 1
        upstream = self.files.get(path)
        if upstream is None:
            self._plain(request, 404, b"no such file")
            return
        if upstream.hang:
            self._stop.wait(60)
            return
        if upstream.status != 200:
            self._plain(request, upstream.status, b"upstream says no")
            return
        data, start = upstream.data, 0
        header = request.headers.get("Range")
        self.ranges.append(header)
        if header and header.startswith("bytes=") and header.endswith("-"):
            start = int(header[6:-1])
            request.send_response(206)
            request.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            request.send_response(200)
        request.send_header("Content-Type", "application/octet-stream")
        request.send_header("ETag", f'"v{len(data)}"')
        request.send_header("Accept-Ranges", "bytes")
        if upstream.announce_size:
            request.send_header("Content-Length", str(len(data) - start))
        else:
            request.send_header("Connection", "close")
        request.end_headers()
        limit = upstream.cut_first_after if first else None
        self._send(request, upstream, data[start:], limit)

    def _send(
        self, request: BaseHTTPRequestHandler, upstream: Upstream, body: bytes, limit: int | None
    ) -> None:
        sent = 0
        try:
            while sent < len(body):
                piece = body[sent : sent + upstream.chunk]
                if limit is not None and sent + len(piece) > limit:
                    request.wfile.write(piece[: limit - sent])
                    request.wfile.flush()
                    request.close_connection = True
                    return
                if upstream.hold is not None and sent + len(piece) >= len(body):
                    upstream.hold.wait(60)
                request.wfile.write(piece)
                request.wfile.flush()
                upstream.sent_first.set()
                sent += len(piece)
                if upstream.delay:
                    time.sleep(upstream.delay)
        except (BrokenPipeError, ConnectionResetError):
            request.close_connection = True
        if not upstream.announce_size:
            request.close_connection = True

    @staticmethod
    def _plain(request: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", "text/plain")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
