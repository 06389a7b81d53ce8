"""Resumable upload (tus) benchmark of modelhub against the real server.

Starts ``pserve`` on a temporary copy of ``development.ini`` as
``large_files.py`` does (SQLite and a blob folder in a temporary folder,
waitress on a free 127.0.0.1 port, the ini's threads and ``inbuf_overflow``),
makes an admin, then measures:

(a) a 1 GiB file uploaded through ``/v1/uploads/`` by tuspy in parts of
    ``CHUNK`` bytes: MB/s from the creation to the last part's answer (the
    server hashes the file then), the server's peak RSS and CPU, the bytes
    the server process wrote to storage meanwhile (``write_bytes`` of
    ``/proc/<pid>/io``) against the file's size, and the stored SHA-256;
(b) the same measures for another 1 GiB file sent by set file (one POST),
    for comparison.

Run by hand, not by the test suite::

    .venv/bin/python bench/tus.py            # ~1 minute, 3 GB free
    .venv/bin/python bench/tus.py --quick    # 128 MiB, smoke check
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import client
import harness
import large_files
from client import Api
from harness import ADMIN, GIB, MIB, PASSWORD
from report import Target, at_least, mb_s, mib, size_label
from tusclient.client import TusClient

CHUNK = 64 * MIB  # what development.ini's inbuf_overflow keeps in memory


@dataclass(frozen=True)
class Plan:
    size: int
    chunk: int
    min_free: int

    @classmethod
    def full(cls) -> Plan:
        return cls(1 * GIB, CHUNK, 3 * 10**9)

    @classmethod
    def quick(cls) -> Plan:
        return cls(128 * MIB, 16 * MIB, 1 * 10**9)


@dataclass(frozen=True)
class Measured:
    """One upload: its answer, the time it took and what the server did."""

    sha256: str
    seconds: float
    peak_rss: int
    cpu: float
    written: int  # write_bytes: bytes the server process sent to storage
    cancelled: int  # cancelled_write_bytes: dirtied, then deleted before writeback


def io_counters(pid: int) -> dict[str, int]:
    """``/proc/<pid>/io`` of the serving process."""
    counters = {}
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        name, _, value = line.partition(":")
        counters[name] = int(value)
    return counters


class Benchmark(large_files.Benchmark):
    """The large-file benchmark's server, sample files and measures, for an
    upload through tus and one by set file."""

    plan: Plan  # type: ignore[assignment]

    def upload_measured(self, action: Callable[[], str]) -> Measured:
        """Run ``action`` (which returns the stored SHA-256) and measure the
        server meanwhile, its writes to storage included."""
        before = io_counters(self.server.pid)
        sha256, peak_rss, seconds, cpu = self.measured(action)
        after = io_counters(self.server.pid)
        return Measured(
            sha256,
            seconds,
            peak_rss,
            cpu / seconds,
            after["write_bytes"] - before["write_bytes"],
            after["cancelled_write_bytes"] - before["cancelled_write_bytes"],
        )

    def stored_sha256(self, pk: int) -> str:
        return self.api.session.get(f"{self.api.base}/pretrained-models/{pk}", timeout=30).json()[
            "data_sha256"
        ]

    def tus_upload(self, pk: int, path: Path) -> str:
        tus = TusClient(
            f"{self.api.base}/uploads/", headers={"Authorization": f"Bearer {self.api.token}"}
        )
        with path.open("rb") as file:
            uploader = tus.uploader(
                file_stream=file,
                chunk_size=self.plan.chunk,
                metadata={"model": str(pk), "filename": path.name},
            )
            uploader.upload()
        return self.stored_sha256(pk)

    def set_file(self, pk: int, path: Path) -> str:
        _transfer, body = self.api.upload(pk, path)
        return str(body["data_sha256"])

    def run(self) -> None:
        self.api.login()
        self.framework = self.api.create_framework("bench-tus", "1")
        label = size_label(self.plan.size)
        chunk = size_label(self.plan.chunk)
        ways = (
            ("a", f"tus upload {label} in {chunk} parts", self.tus_upload),
            ("b", f"set file {label} (one POST)", self.set_file),
        )
        for phase, title, upload in ways:
            self.phase(f"({phase}) {title}")
            sample = self.test_file(self.plan.size)
            client.warm(sample.path)  # the client reads from memory, not disk
            pk = self.api.create_model(self.framework, f"bench-{phase}")
            result = self.upload_measured(
                lambda upload=upload, pk=pk, path=sample.path: upload(pk, path)
            )
            self.add(phase, title, result, sample.sha256)
            sample.path.unlink()

    def add(self, phase: str, title: str, result: Measured, sha256: str) -> None:
        rate = self.plan.size / result.seconds / 1e6
        self.report.add(
            phase,
            title,
            rate,
            mb_s(rate),
            at_least(200, ">= 200 MB/s") if phase == "a" else None,
            f"{result.seconds:.1f} s, SHA-256 included; server CPU {result.cpu:.0%}",
        )
        ratio = result.written / self.plan.size
        self.report.add(
            phase,
            "bytes written to storage / file size",
            ratio,
            f"{ratio:.2f}x",
            Target("<= 1.05x (once)", lambda value: value <= 1.05) if phase == "a" else None,
            f"write_bytes {mib(result.written)} (server, /proc/<pid>/io); "
            f"cancelled_write_bytes {mib(result.cancelled)}",
        )
        self.report.add(phase, "server peak RSS", result.peak_rss, mib(result.peak_rss))
        same = result.sha256 == sha256
        self.report.add(
            phase, "stored SHA-256 is the file's", same, str(same), Target("True", bool)
        )


def main(argv: list[str] | None = None) -> int:
    args = harness.bench_arguments(__doc__ or "", argv)
    plan = Plan.quick() if args.quick else Plan.full()
    return harness.run_benchmark(
        "resumable upload (tus)",
        args,
        f"{size_label(plan.size)} by tus in parts of {size_label(plan.chunk)} "
        "(the chunk size), then by set file",
        plan.min_free,
        lambda workspace, server: Benchmark(
            plan, workspace, server, Api(server.url, ADMIN, PASSWORD)
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
