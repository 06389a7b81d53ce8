"""Pull-through benchmark: a model whose file lives upstream, downloaded
through the registry, against the same file downloaded from upstream.

Starts ``pserve`` on a temporary copy of ``development.ini`` (as
``large_files.py`` does) and a local upstream HTTP server in its own
process that sends files with ``sendfile``, then measures:

(a) the file downloaded directly from upstream: MB/s (three runs, median),
    read and dropped, and written to a file on the registry's disk (what
    storing the bytes costs by itself);
(b) the first download of a model whose ``source`` is that file: MB/s, the
    time to its first byte, and the server's peak RSS;
(c) the second download of that model, now stored: MB/s, against the
    download of the same bytes uploaded to another model.

Run by hand::

    .venv/bin/python bench/upstream.py            # 1 GiB file, ~1 minute, 3 GB free
    .venv/bin/python bench/upstream.py --quick    # 128 MiB
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import statistics
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import client
import harness
from client import Api
from harness import ADMIN, GIB, MIB, PASSWORD, Server, Workspace
from report import Report, at_least, below, mb_s, mib, ms

RUNS = 3


def serve_upstream(folder: str, port_queue: multiprocessing.Queue) -> None:
    """An upstream HTTP server for the files of ``folder`` (its own process)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = Path(folder) / self.path.lstrip("/")
            size = path.stat().st_size
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.send_header("ETag", f'"{size}"')
            self.end_headers()
            self.wfile.flush()
            with path.open("rb") as file:
                self.connection.sendfile(file)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 128 MiB file instead of 1 GiB")
    parser.add_argument("--tmpdir", type=Path, help="where the temporary folder goes")
    args = parser.parse_args()
    size = 128 * MIB if args.quick else GIB
    harness.raise_on_sigterm()
    workspace = Workspace.create(args.tmpdir, 3 * size + GIB)
    port = harness.free_port()
    ini = harness.write_ini(workspace.path, port)
    return harness.run_on_server(workspace, ini, port, lambda s: run(s, workspace, size))


def run(server: Server, workspace: Workspace, size: int) -> None:
    report = Report()
    files = workspace.path / "upstream"
    files.mkdir()
    path = files / "model.bin"
    digest = client.random_file(path, size)
    client.warm(path)
    context = multiprocessing.get_context("fork")
    ports: multiprocessing.Queue = context.Queue()
    upstream = context.Process(target=serve_upstream, args=(str(files), ports), daemon=True)
    upstream.start()
    try:
        source = f"http://127.0.0.1:{ports.get(timeout=30)}/model.bin"
        measure(server, report, source, path, digest, size)
    finally:
        upstream.terminate()
    print("\n" + report.markdown())


def measure(
    server: Server, report: Report, source: str, path: Path, digest: str, size: int
) -> None:
    api = Api(server.url, ADMIN, PASSWORD)
    api.login()
    label = f"{size // MIB} MiB"
    session = client.new_session()
    direct = [client.download(session, source).mb_per_s for _ in range(RUNS)]
    baseline = statistics.median(direct)
    report.add("a", f"direct from upstream, {label}", baseline, mb_s(baseline))
    saved = statistics.median(save(session, source, path.with_suffix(".copy")) for _ in range(RUNS))
    report.add("a", "direct from upstream into a file", saved, mb_s(saved))

    framework = api.create_framework("bench-upstream")
    body = {
        "framework": framework,
        "domain": "ic",
        "licence": "MIT",
        "url": "https://example.org/bench",
        "description": "pull-through benchmark",
        "name": "remote",
        "source": source,
    }
    pk = api.post("/pretrained-models/create", body, 201)["pk"]
    idle = server.rss()
    server.reset_peak_rss()
    url = f"{api.base}/pretrained-models/{pk}/download"
    start = time.perf_counter()
    with api.session.get(url, stream=True, timeout=client.TIMEOUT) as response:
        raw = response.raw
        first = raw.read(64 * 1024, decode_content=False)
        first_byte = time.perf_counter() - start
        hasher, received = hashlib.sha256(first), len(first)
        while chunk := raw.read(client.READ_CHUNK, decode_content=False):
            hasher.update(chunk)
            received += len(chunk)
    seconds = time.perf_counter() - start
    if hasher.hexdigest() != digest or received != size:
        raise RuntimeError("the first download through the registry returned other bytes")
    rate = size / seconds / 1e6
    report.add(
        "b",
        f"first download through the registry, {label}",
        rate / baseline,
        f"{mb_s(rate)} ({rate / baseline:.2f}x)",
        at_least(0.8, ">= 0.8x direct"),
        note=f"{rate / saved:.2f}x direct into a file",
    )
    report.add("b", "time to the first byte", first_byte, ms(first_byte))
    growth = server.peak_rss() - idle
    report.add("b", "server peak RSS above idle", growth, mib(growth), below(64 * MIB, "< 64 MiB"))

    for _ in range(100):
        if (
            api.session.get(f"{api.base}/pretrained-models/{pk}", timeout=10).json()["data_state"]
            == "local"
        ):
            break
        time.sleep(0.1)
    second = statistics.median(api.download(pk).mb_per_s for _ in range(RUNS))
    local_pk = api.create_model(framework, "uploaded")
    api.upload(local_pk, path)
    local = statistics.median(api.download(local_pk).mb_per_s for _ in range(RUNS))
    report.add(
        "c",
        f"second download (stored), {label}",
        second / local,
        f"{mb_s(second)} ({second / local:.2f}x)",
        at_least(0.9, ">= 0.9x an uploaded model"),
        note=f"uploaded model: {mb_s(local)}",
    )


def save(session: object, url: str, target: Path) -> float:
    """MB/s of downloading ``url`` into a new file ``target`` (removed after)."""
    start = time.perf_counter()
    size = 0
    with (
        session.get(url, stream=True, timeout=client.TIMEOUT) as response,
        target.open("wb") as out,
    ):  # type: ignore[attr-defined]
        while chunk := response.raw.read(client.READ_CHUNK, decode_content=False):
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    seconds = time.perf_counter() - start
    target.unlink()
    return size / seconds / 1e6


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    sys.exit(main())
