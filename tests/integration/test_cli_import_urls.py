"""``modelhub import`` from http URLs served by a local server in a thread."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.integration.conftest import Batch, entry

GOOD = bytes(range(256)) * 4096  # 1 MiB
FLAKY = b"flaky " * 200_000  # 1.2 MB, dropped half way the first time
OTHER = b"other bytes " * 1000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileServer:
    """Serves ``files`` by path, honours ``Range``, and can break a download."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop_first: set[str] = set()
        self.ignore_range: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path, wanted = self.path, self.headers.get("Range")
                server.requests.append((path, wanted))
                data = server.files.get(path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if (
                    wanted
                    and wanted.startswith("bytes=")
                    and path not in server.ignore_range
                    and wanted.endswith("-")
                ):
                    start = int(wanted[len("bytes=") : -1])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("ETag", f'"{sha(data)}"')
                self.end_headers()
                body = data[start:]
                if path in server.drop_first and not wanted:
                    server.drop_first.discard(path)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def downloads(self, path: str) -> list[str | None]:
        return [wanted for got, wanted in self.requests if got == path]


@pytest.fixture
def server() -> Iterator[FileServer]:
    files = FileServer()
    files.thread.start()
    yield files
    files.httpd.shutdown()
    files.httpd.server_close()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def url_entry(name: str, url: str, sha256: str | None) -> dict[str, Any]:
    digest = {"sha256": sha256} if sha256 else {}
    framework = {"name": "onnx", "version": "1.16"}
    return entry(name, url, framework=framework, domain="od", licence="Apache-2.0", **digest)


def test_downloads_resume_mismatches_and_unreachable_urls(
    batch: Batch, server: FileServer, closed_port: int
) -> None:
    server.files = {"/good.onnx": GOOD, "/flaky.onnx": FLAKY, "/other.onnx": OTHER}
    server.files["/plain.onnx"] = FLAKY[::-1]
    server.drop_first = {"/flaky.onnx", "/plain.onnx"}
    server.ignore_range = {"/plain.onnx"}
    entries = [
        url_entry("good", f"{server.url}/good.onnx", sha(GOOD)),
        url_entry("flaky", f"{server.url}/flaky.onnx", sha(FLAKY)),
        url_entry("mismatch", f"{server.url}/other.onnx", sha(b"something else")),
        url_entry("unreachable", f"http://127.0.0.1:{closed_port}/x.onnx", None),
        url_entry("no-such-file", f"{server.url}/missing.onnx", None),
        url_entry("no-range", f"{server.url}/plain.onnx", sha(FLAKY[::-1])),
    ]
    manifest = batch.root / "manifest.json"
    manifest.write_text(json.dumps(entries))
    batch.run("initdb")

    started = time.monotonic()
    outcome = batch.run("import", str(manifest))
    elapsed = time.monotonic() - started

    assert outcome.code == 1
    assert "3 created, 0 updated, 0 unchanged, 3 files stored, 3 failed" in outcome.out
    rows = batch.rows("SELECT name, data_sha256 FROM pretrained_models ORDER BY name")
    assert rows == [("flaky", sha(FLAKY)), ("good", sha(GOOD)), ("no-range", sha(FLAKY[::-1]))]
    assert batch.blob_files() == {sha(GOOD): GOOD, sha(FLAKY): FLAKY, sha(FLAKY[::-1]): FLAKY[::-1]}
    # A server without Range support sent it all again; the rest was kept.
    assert len(server.downloads("/plain.onnx")) == 2
    # The broken download went on from where it stopped.
    (first, resumed) = server.downloads("/flaky.onnx")
    assert first is None and resumed is not None
    assert 0 < int(resumed.removeprefix("bytes=").rstrip("-")) < len(FLAKY)
    # A wrong digest stores nothing, and says so.
    assert f"entry 3 (mismatch): error: sha256: The file's SHA-256 is {sha(OTHER)}" in outcome.err
    assert sha(OTHER) not in batch.blob_files()
    assert list((batch.blob_root / "tmp").iterdir()) == []
    assert "entry 4 (unreachable): error: Cannot fetch" in outcome.err
    assert "connection refused" in outcome.err
    assert "entry 5 (no-such-file): error: Cannot fetch" in outcome.err
    assert "HTTP 404" in outcome.err
    assert elapsed < 10  # bounded retries, no hang

    # Running it again downloads nothing already held with its digest.
    server.requests.clear()
    again = batch.run("import", str(manifest))
    assert "0 created, 0 updated, 3 unchanged, 0 files stored, 3 failed" in again.out
    assert server.downloads("/good.onnx") == [] and server.downloads("/flaky.onnx") == []


def test_a_silent_server_times_out(batch: Batch) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections, never answers
        port = silent.getsockname()[1]
        manifest = batch.root / "manifest.json"
        manifest.write_text(json.dumps([url_entry("slow", f"http://127.0.0.1:{port}/m", None)]))
        batch.run("initdb")
        started = time.monotonic()
        outcome = batch.run("import", str(manifest))
        elapsed = time.monotonic() - started
    assert outcome.code == 1
    assert "no data for 1 s" in outcome.err and "gave up after 3 attempts" in outcome.err
    assert elapsed < 1 * 3 + 3
    assert batch.rows("SELECT count(*) FROM pretrained_models") == [(0,)]
