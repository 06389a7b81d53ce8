"""Large-file and metadata benchmark of modelhub against the real server.

Starts ``pserve`` on a temporary copy of ``development.ini`` (own database,
blobs and key in a temporary folder, waitress on a free 127.0.0.1 port with
the ini's thread count), then measures:

(a) upload and download of large files: MB/s and the server's peak RSS;
(b) ``cat`` and ``cp`` of the same files, and the ratios to them;
(c) 32 concurrent downloads, with a metadata latency loop meanwhile;
(d) a download interrupted at 50 % and resumed with ``Range``, checked by
    SHA-256, and a Range request for the last 10 % against a full download;
(e) list and retrieve with 1,000 and 10,000 models.

Run by hand, not by the test suite::

    .venv/bin/python bench/large_files.py           # ~5 min, needs 20 GB free
    .venv/bin/python bench/large_files.py --quick   # smoke check, < 1 min
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import bulk
import client
import harness
from client import Api, Transfer, percentile
from harness import ADMIN, GIB, MIB, PASSWORD, Server, Workspace
from report import Report, Target, at_least, below, equal, mb_s, mib, ms, size_label

FORK = multiprocessing.get_context("fork")
PHASE_DEADLINE = 600.0  # seconds any single wait may last
DOWNLOAD_RUNS = 3
T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    """Sizes and counts of one run."""

    sizes: tuple[int, ...]
    concurrent_size: int
    model_counts: tuple[int, ...]
    retrieve_seconds: float
    list_repeats: int
    min_free: int
    concurrent_downloads: int = 32
    client_processes: int = 4
    retrieve_clients: int = 8

    @classmethod
    def full(cls) -> Plan:
        return cls((1 * GIB, 4 * GIB), 256 * MIB, (1_000, 10_000), 10.0, 7, 20 * 10**9)

    @classmethod
    def quick(cls) -> Plan:
        return cls((16 * MIB, 64 * MIB), 8 * MIB, (200, 1_000), 3.0, 5, 1 * 10**9)


@dataclass
class Sample:
    """A large test file, its model and its transfers."""

    size: int
    path: Path
    sha256: str
    pk: int = 0
    upload: Transfer | None = None
    download: Transfer | None = None


class Benchmark:
    """The phases of one run against one server, and their report."""

    def __init__(self, plan: Plan, workspace: Workspace, server: Server, api: Api) -> None:
        self.plan = plan
        self.workspace = workspace
        self.server = server
        self.api = api
        self.report = Report()
        self.samples: list[Sample] = []
        self.framework = 0

    # -- helpers ----------------------------------------------------------------

    def phase(self, title: str) -> None:
        print(f"\n== {title}", flush=True)
        self.api.login()

    def measured(self, action: Callable[[], T]) -> tuple[T, int, float, float]:
        """Run ``action``; return its result, the server's peak RSS meanwhile,
        the wall time and the server's CPU time (seconds).

        Dirty pages are written back first, so that writeback left by an
        earlier step does not slow this one down."""
        os.sync()
        self.server.reset_peak_rss()
        cpu = self.server.cpu_seconds()
        start = time.perf_counter()
        result = action()
        wall = time.perf_counter() - start
        return result, self.server.peak_rss(), wall, self.server.cpu_seconds() - cpu

    def test_file(self, size: int) -> Sample:
        path = self.workspace.path / f"sample-{size}.bin"
        start = time.perf_counter()
        sha256 = client.random_file(path, size)
        print(
            f"  (wrote {size_label(size)} of random bytes in {time.perf_counter() - start:.1f} s)",
            flush=True,
        )
        return Sample(size, path, sha256)

    # -- (a) single-stream upload and download ----------------------------------

    def large_files(self) -> None:
        self.phase("(a) upload and download, one stream")
        self.framework = self.api.create_framework("bench-pytorch", "2.4")
        for size in self.plan.sizes:
            sample = self.test_file(size)
            self.samples.append(sample)
            label = size_label(size)
            sample.pk = self.api.create_model(self.framework, f"large-{label.replace(' ', '')}")

            client.warm(sample.path)  # the client reads from memory, not disk
            (upload, body), peak, wall, cpu = self.measured(
                partial(self.api.upload, sample.pk, sample.path)
            )
            sample.upload = upload
            body_s = upload.body_seconds or upload.seconds
            self.report.add(
                "a",
                f"upload {label} (SHA-256 included)",
                upload.mb_per_s,
                mb_s(upload.mb_per_s),
                at_least(200, ">= 200 MB/s"),
                f"{upload.seconds:.1f} s = body sent in {body_s:.1f} s "
                f"+ server {upload.seconds - body_s:.1f} s after it; server CPU {cpu / wall:.0%}",
            )
            self.report.add("a", f"server peak RSS, upload {label}", peak, mib(peak), rss_a())
            same = body["data_sha256"] == sample.sha256 and body["data_size"] == size
            self.report.add("a", f"stored SHA-256 and size, {label}", same, str(same), correct())
            self.single_downloads(sample, label)

    def single_downloads(self, sample: Sample, label: str) -> None:
        """``DOWNLOAD_RUNS`` downloads one after the other; the median counts,
        the first (right after the upload) is shown too."""
        runs: list[Transfer] = []
        peaks, cpus = [], []
        for _ in range(DOWNLOAD_RUNS):
            download, peak, wall, cpu = self.measured(partial(self.api.download, sample.pk))
            runs.append(download)
            peaks.append(peak)
            cpus.append(cpu / wall)
        ordered = sorted(runs, key=lambda t: t.mb_per_s)
        median = ordered[len(ordered) // 2]
        sample.download = median
        wrong = [t.size for t in runs if t.size != sample.size or t.status != 200]
        self.report.add(
            "a",
            f"download {label} (median of {DOWNLOAD_RUNS})",
            median.mb_per_s,
            mb_s(median.mb_per_s),
            at_least(1000, ">= 1 GB/s"),
            f"runs {', '.join(f'{t.mb_per_s:.0f}' for t in runs)} MB/s (first right after "
            f"the upload); server CPU {max(cpus):.0%} at most"
            + (f"; WRONG SIZES {wrong}" if wrong else ""),
        )
        self.report.add(
            "a", f"server peak RSS, download {label}", max(peaks), mib(max(peaks)), rss_a()
        )

    # -- (b) raw references -----------------------------------------------------------

    def references(self) -> None:
        self.phase("(b) raw references: cat (page cache warm) and cp")
        for sample in self.samples:
            label = size_label(sample.size)
            subprocess.run(["cat", str(sample.path)], stdout=subprocess.DEVNULL, check=True)
            cat = timed(["cat", str(sample.path)])
            dest = self.workspace.path / "cp-dest.bin"
            cp = timed(["cp", str(sample.path), str(dest)])
            sync = timed(["sync", str(dest)])
            dest.unlink()
            cat_rate, cp_rate = sample.size / cat / 1e6, sample.size / cp / 1e6
            sync_rate = sample.size / (cp + sync) / 1e6
            assert sample.upload is not None and sample.download is not None
            self.report.add("b", f"cat {label} > /dev/null", cat_rate, mb_s(cat_rate))
            self.report.add(
                "b", f"cp {label}", cp_rate, mb_s(cp_rate), note=f"cp + sync: {mb_s(sync_rate)}"
            )
            ratio = sample.download.mb_per_s / cat_rate
            self.report.add("b", f"download / cat, {label}", ratio, f"{ratio:.2f}")
            ratio = sample.upload.mb_per_s / cp_rate
            self.report.add(
                "b",
                f"upload / cp, {label}",
                ratio,
                f"{ratio:.2f}",
                note=f"upload / (cp + sync): {sample.upload.mb_per_s / sync_rate:.2f}",
            )

    # -- (c) concurrent downloads -----------------------------------------------------

    def concurrent(self) -> None:
        n, size = self.plan.concurrent_downloads, self.plan.concurrent_size
        label = size_label(size)
        self.phase(f"(c) {n} concurrent downloads of {label}, metadata latency meanwhile")
        sample = self.test_file(size)
        sample.pk = self.api.create_model(self.framework, "concurrent")
        self.api.upload(sample.pk, sample.path)
        sample.path.unlink()
        processes = self.plan.client_processes
        url = f"{self.api.base}/pretrained-models/{sample.pk}/download"
        latencies: list[tuple[float, float, bool]] = []  # start, seconds, ok

        with FORK.Pool(processes) as pool:
            start_at = time.monotonic() + 1.0
            jobs = [(url, self.api.token, size, n // processes, start_at)] * processes

            def run() -> tuple[float, list[tuple[float, float, int, str | None]]]:
                pending = pool.map_async(client.download_worker, jobs, chunksize=1)
                deadline = time.monotonic() + PHASE_DEADLINE
                while time.monotonic() < start_at:
                    time.sleep(0.01)
                while not pending.ready() and time.monotonic() < deadline:
                    began = time.monotonic()
                    seconds, ok = self.api.retrieve_latency(sample.pk)
                    latencies.append((began, seconds, ok))
                parts = pending.get(timeout=PHASE_DEADLINE)
                return sum(p[0] for p in parts), [d for p in parts for d in p[1]]

            (client_cpu, downloads), peak, _wall, cpu = self.measured(run)
        first = min(d[0] for d in downloads)
        last = max(d[1] for d in downloads)
        total = sum(d[2] for d in downloads)
        errors = [d[3] for d in downloads if d[3]]
        rate = total / (last - first) / 1e6
        self.report.add(
            "c",
            f"{n} x {label}: aggregate download",
            rate,
            mb_s(rate),
            note=f"{last - first:.1f} s; CPU: server {cpu / (last - first):.0%}, "
            f"{processes} client processes x {n // processes} threads "
            f"{client_cpu / (last - first):.0%}",
        )
        self.report.add(
            "c",
            f"{n} x {label}: errors",
            len(errors),
            str(len(errors)),
            equal(0, "0"),
            "; ".join(sorted(set(errors)))[:200],
        )
        self.report.add(
            "c", f"{n} x {label}: server peak RSS", peak, mib(peak), below(250 * MIB, "< 250 MiB")
        )
        during = [(s, ok) for began, s, ok in latencies if first <= began <= last]
        if not during:
            self.report.add("c", "GET /pretrained-models/{pk} meanwhile", 0, "no sample")
            return
        seconds = [s for s, _ in during]
        failed = sum(not ok for _, ok in during)
        self.report.add(
            "c",
            "GET /pretrained-models/{pk} meanwhile: median",
            statistics.median(seconds),
            ms(statistics.median(seconds)),
            note=f"{len(seconds)} requests, {failed} errors",
        )
        p99 = percentile(seconds, 99)
        self.report.add(
            "c",
            "GET /pretrained-models/{pk} meanwhile: p99",
            p99,
            ms(p99),
            below(0.2, "< 200 ms"),
            f"max {ms(max(seconds))}",
        )

    # -- (d) resumed and ranged downloads ----------------------------------------------

    def ranges(self) -> None:
        sample = self.samples[-1]
        label = size_label(sample.size)
        self.phase(f"(d) resumed and ranged downloads of {label}")
        half = sample.size // 2
        digest = hashlib.sha256()
        first_session = client.new_session(self.api.token)
        url = f"{self.api.base}/pretrained-models/{sample.pk}/download"
        first = client.download(first_session, url, limit=half, digest=digest)
        first_session.close()
        second, peak, _, _ = self.measured(
            lambda: self.api.download(sample.pk, headers={"Range": f"bytes={half}-"}, digest=digest)
        )
        ok = (
            first.size == half
            and second.status == 206
            and second.size == sample.size - half
            and second.sha256 == sample.sha256
        )
        self.report.add(
            "d",
            f"50 % + resumed Range {label}: SHA-256 equal",
            ok,
            str(ok),
            correct(),
            f"{first.size} + {second.size} bytes, resume answered {second.status}, "
            f"peak RSS {mib(peak)}",
        )

        # Best of a few: the file is then in the page cache for both.
        full = min((self.api.download(sample.pk) for _ in range(2)), key=lambda t: t.seconds)
        tail_start = sample.size - sample.size // 10
        tails = [
            self.api.download(sample.pk, headers={"Range": f"bytes={tail_start}-"})
            for _ in range(3)
        ]
        tail = min(tails, key=lambda t: t.seconds)
        ratio = tail.seconds / full.seconds
        good = all(t.status == 206 and t.size == sample.size - tail_start for t in tails)
        self.report.add(
            "d",
            f"Range last 10 % / full download, {label}",
            ratio,
            f"{ratio:.3f}",
            about_a_tenth(),
            f"{ms(tail.seconds)} vs {ms(full.seconds)} (best of 3 and of 2)"
            + ("" if good else f", WRONG ANSWER {tail.status} {tail.size} bytes"),
        )

    # -- (e) metadata at scale ----------------------------------------------------------

    def metadata(self) -> None:
        pks: list[int] = []
        for count in self.plan.model_counts:
            self.phase(f"(e) metadata API with {count:,} models")
            existing = len(self.api.post("/pretrained-models/list"))
            self.server.stop()
            start = time.perf_counter()
            with FORK.Pool(1) as pool:
                added = pool.apply(
                    bulk.insert_models,
                    (self.server.ini, existing, count - existing, self.framework, ADMIN),
                )
            print(
                f"  (added {added:,} models through the services in "
                f"{time.perf_counter() - start:.1f} s, server stopped)",
                flush=True,
            )
            self.server.start()
            print(f"  (server restarted, serving pid {self.server.pid})", flush=True)
            self.api.login()
            limit = below(0.1, "< 100 ms") if count <= 1000 else below(1.0, "< 1 s")
            contains = {
                "expressions": [{"type": "contains", "field": "name", "sub_string": bulk.CONTAINS}]
            }
            for title, spec in (("no filter", None), (f"contains '{bulk.CONTAINS}'", contains)):
                seconds, listed = self.list_latency(spec)
                self.report.add(
                    "e",
                    f"list {count:,} models, {title}: median",
                    seconds,
                    ms(seconds),
                    limit,
                    f"{len(listed):,} returned, {self.plan.list_repeats} runs",
                )
                if spec is None:
                    pks = [m["pk"] for m in listed]
        self.retrieve_load(pks)

    def list_latency(self, spec: object) -> tuple[float, list[dict]]:
        """Median seconds of ``POST /list`` (body received, not parsed), and
        the models of the last answer."""
        times, response = self.api.list_times(self.plan.list_repeats, spec)
        return statistics.median(times), response.json()

    def retrieve_load(self, pks: list[int]) -> None:
        clients, duration = self.plan.retrieve_clients, self.plan.retrieve_seconds
        self.phase(f"(e) GET /pretrained-models/{{pk}}, {clients} clients for {duration:g} s")
        with FORK.Pool(clients) as pool:
            start_at = time.monotonic() + 1.0
            job = (self.api.base, self.api.token, pks, start_at, duration)
            results, peak, _, cpu = self.measured(
                lambda: pool.map(client.retrieve_worker, [job] * clients, chunksize=1)
            )
        ok = sum(r[0] for r in results)
        errors = sum(r[1] for r in results)
        span = max(r[3] for r in results) - min(r[2] for r in results)
        latencies = [lat for r in results for lat in r[4]]
        client_cpu = sum(r[5] for r in results)
        rate = ok / span
        self.report.add(
            "e",
            f"retrieve, {clients} clients: throughput",
            rate,
            f"{rate:.0f} req/s",
            at_least(500, ">= 500 req/s"),
            f"{ok:,} in {span:.1f} s; CPU: server {cpu / span:.0%}, "
            f"clients {client_cpu / span:.0%}; server peak RSS {mib(peak)}",
        )
        p99 = percentile(latencies, 99)
        self.report.add(
            "e",
            f"retrieve, {clients} clients: p99",
            p99,
            ms(p99),
            below(0.05, "< 50 ms"),
            f"median {ms(statistics.median(latencies))}",
        )
        self.report.add(
            "e", f"retrieve, {clients} clients: errors", errors, str(errors), equal(0, "0")
        )

    def run(self) -> None:
        process = self.server.process
        print(
            f"server: pserve pid {process.pid if process else '?'}, serving pid "
            f"{self.server.pid}, {self.server.threads()} threads, "
            f"RSS at start {mib(self.server.rss())}",
            flush=True,
        )
        self.large_files()
        self.references()
        self.concurrent()
        self.ranges()
        self.metadata()


def rss_a() -> Target:
    return below(150 * MIB, "< 150 MiB")


def correct() -> Target:
    return Target("True", bool)


def about_a_tenth() -> Target:
    return Target("~0.1 (< 0.2)", lambda ratio: 0 < ratio < 0.2)


def timed(command: list[str]) -> float:
    """Wall seconds of ``command``, its output dropped."""
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True, timeout=PHASE_DEADLINE)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = harness.bench_arguments(__doc__ or "", argv)
    plan = Plan.quick() if args.quick else Plan.full()
    return harness.run_benchmark(
        "large-file",
        args,
        f"files {', '.join(size_label(s) for s in plan.sizes)}; "
        f"{plan.concurrent_downloads} x {size_label(plan.concurrent_size)}; "
        f"models {', '.join(f'{c:,}' for c in plan.model_counts)}; "
        f"retrieve {plan.retrieve_clients} clients x {plan.retrieve_seconds:g} s",
        plan.min_free,
        lambda workspace, server: Benchmark(
            plan, workspace, server, Api(server.url, ADMIN, PASSWORD)
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
