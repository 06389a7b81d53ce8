"""The production topology of ``deploy/run-local`` (nginx in front of
waitress instances of production.ini on PostgreSQL), measured in one run.

Starts ``deploy/run-local`` on a free port with a PostgreSQL database of its
own (created on 127.0.0.1:5432, dropped at the end), a blob folder, a signing
key and ``TMPDIR`` in a temporary folder, makes the admin with
``modelhub-create-user``, and measures:

(a) download of a 1 GiB model through the deployment, and of the same file
    served as a static file by a second, minimal nginx of this run, 5 of each
    taken in turns: MB/s, ratio;
(b) ``GET /v1/pretrained-models/{pk}`` p99 while 32 downloads run;
(c) an anonymous upload declaring 2 GiB, sent as fast as possible: time to
    the 401, bytes sent and read by then; 100 connections sending their
    headers a byte every 3 s, API latency before and during;
(d) a 4 GiB upload: MB/s, and the bytes the deployment's processes wrote to
    storage meanwhile (``/proc/<pid>/io``), against the file's size;
(e) ``POST /v1/pretrained-models/list`` with 10,000 models (added through the
    services while the deployment runs);
(f) ``GET /v1/pretrained-models/{pk}`` from wrk (a load generator in C, so
    that the clients take little of the CPUs the instances share; Debian's
    package ``wrk``) with 8 connections for 10 s, with 2 instances, then
    with 1 (the deployment restarted): req/s, p99, ratio.

Run by hand, not by the test suite::

    .venv/bin/python bench/deployment.py --quick   # smoke check, ~1 minute, 1 GB free
    .venv/bin/python bench/deployment.py           # ~5 minutes, 12 GB free
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import bulk
import client
import harness
import hostile_clients as hostile
from client import Api, Transfer, percentile
from harness import ADMIN, GIB, MIB, PASSWORD, BenchError, Workspace
from report import Report, Target, at_least, below, equal, mb_s, mib, ms, size_label

FORK = multiprocessing.get_context("fork")
RUN_LOCAL = harness.ROOT / "deploy" / "run-local"
PRODUCTION_INI = harness.ROOT / "production.ini"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
PHASE_DEADLINE = 900.0
DOWNLOAD_RUNS = 5
RETRIEVE_SCRIPT = Path(__file__).resolve().parent / "retrieve.lua"
WRK = shutil.which("wrk")
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)


@dataclass(frozen=True)
class Plan:
    """Sizes and counts of one run."""

    download_size: int
    upload_size: int
    models: int
    retrieve_seconds: float
    slow_seconds: float
    list_repeats: int
    min_free: int
    concurrent_downloads: int = 32
    client_processes: int = 4
    retrieve_connections: int = 8
    slow_headers: int = 100
    slow_pause: float = 3.0

    @classmethod
    def full(cls) -> Plan:
        return cls(1 * GIB, 4 * GIB, 10_000, 10.0, 20.0, 5, 12 * 10**9)

    @classmethod
    def quick(cls) -> Plan:
        return cls(32 * MIB, 64 * MIB, 1_000, 3.0, 7.0, 3, 1 * 10**9)


# -- the database -------------------------------------------------------------------


def _maintenance() -> str:
    return f"{POSTGRES.replace('postgresql+psycopg://', 'postgresql://')}/postgres"


def create_database() -> str:
    import psycopg

    name = f"modelhub_bench_{secrets.token_hex(6)}"
    with psycopg.connect(_maintenance(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    import psycopg

    with (
        contextlib.suppress(Exception),
        psycopg.connect(_maintenance(), autocommit=True, connect_timeout=5) as conn,
    ):
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the deployment -----------------------------------------------------------------


class Deployment:
    """``deploy/run-local --port P --instances N`` as a subprocess."""

    def __init__(self, workspace: Path, database: str) -> None:
        self.port = harness.free_port()
        self.log = workspace / "deployment.log"
        self.tmpdir = workspace / "tmp"
        self.blob_root = workspace / "blobs"
        self.env = {
            **os.environ,
            "MODELHUB_DATABASE_URL": f"{POSTGRES}/{database}",
            "MODELHUB_BLOB_ROOT": str(self.blob_root),
            "MODELHUB_JWT_KEY": secrets.token_urlsafe(48),
            # waitress spools large request bodies with tempfile: keep them here.
            "TMPDIR": str(self.tmpdir),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.instances = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, instances: int) -> None:
        self.tmpdir.mkdir(exist_ok=True)
        self.instances = instances
        command = [sys.executable, str(RUN_LOCAL), "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--instances", str(instances)],
                cwd=harness.ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=harness._die_with_parent,
            )
        deadline = time.monotonic() + harness.START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"deploy/run-local exited ({self.process.returncode})")
            started = "Stop with Ctrl-C" in self.log.read_text(errors="replace")
            if started and len(self.instance_pids()) == instances:
                return
            time.sleep(0.2)
        raise BenchError(f"deploy/run-local did not start within {harness.START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        """SIGTERM to run-local (it stops nginx and the instances); SIGKILL to
        whatever of its tree lingers."""
        process, self.process = self.process, None
        if process is None:
            return
        tree = harness._children(process.pid)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in tree:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        # The next start writes its own "Stop with Ctrl-C".
        with contextlib.suppress(OSError):
            self.log.rename(self.log.with_suffix(f".{time.monotonic_ns()}.log"))

    def pids(self) -> list[int]:
        return harness._children(self.process.pid) if self.process else []

    def instance_pids(self) -> list[int]:
        found = []
        for pid in self.pids():
            with contextlib.suppress(OSError):
                if b"--serve-instance" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
        return found

    def instance_cpu(self) -> float:
        """CPU seconds the instances have used (user and system)."""
        ticks = 0
        for pid in self.instance_pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def io(self) -> dict[str, int]:
        """``/proc/<pid>/io`` summed over nginx and the instances."""
        total: dict[str, int] = {}
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/io").read_text().splitlines():
                    key, value = line.split(":")
                    total[key] = total.get(key, 0) + int(value)
        return total

    def tail(self, lines: int = 30) -> str:
        texts = [p.read_text(errors="replace") for p in sorted(self.log.parent.glob("deploy*.log"))]
        return "\n".join("\n".join(texts).splitlines()[-lines:]) or "(no log)"


class StaticNginx:
    """A minimal nginx of its own serving ``folder`` as static files
    (sendfile, as the deployment's)."""

    def __init__(self, workspace: Path, folder: Path) -> None:
        self.port = harness.free_port()
        self.run_dir = workspace / "static-nginx"
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if NGINX is None:
            raise BenchError("nginx is not installed (apt-get install nginx-light)")
        self.run_dir.mkdir()
        user = "user root;" if os.geteuid() == 0 else ""
        conf = self.run_dir / "nginx.conf"
        conf.write_text(
            f"""{user}
worker_processes auto;
pid {self.run_dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ }}
    default_type application/octet-stream;
    client_body_temp_path {self.run_dir}/client_body;
    proxy_temp_path {self.run_dir}/proxy;
    fastcgi_temp_path {self.run_dir}/fastcgi;
    uwsgi_temp_path {self.run_dir}/uwsgi;
    scgi_temp_path {self.run_dir}/scgi;
    sendfile on;
    sendfile_max_chunk 2m;
    tcp_nopush on;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.folder};
    }}
}}
"""
        )
        with (self.run_dir / "nginx.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    NGINX,
                    "-p",
                    str(self.run_dir),
                    "-c",
                    str(conf),
                    "-e",
                    "stderr",
                    "-g",
                    "daemon off;",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=harness._die_with_parent,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    "the static nginx exited: " + (self.run_dir / "nginx.log").read_text()
                )
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            time.sleep(0.1)
        raise BenchError("the static nginx did not listen within 10 s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # nginx's master stops its workers
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# -- the run ---------------------------------------------------------------------------


class Benchmark:
    def __init__(self, plan: Plan, workspace: Workspace, deployment: Deployment) -> None:
        self.plan = plan
        self.workspace = workspace
        self.deployment = deployment
        self.api = Api(deployment.url, ADMIN, PASSWORD)
        self.report = Report()
        self.framework = 0
        self.pk = 0  # the downloaded model
        self.size = 0

    def phase(self, title: str) -> None:
        print(f"\n== {title}", flush=True)
        self.api.login()

    def test_file(self, name: str, size: int) -> tuple[Path, str]:
        folder = self.workspace.path / "files"
        folder.mkdir(exist_ok=True)
        path = folder / name
        start = time.perf_counter()
        sha256 = client.random_file(path, size)
        print(
            f"  (wrote {size_label(size)} of random bytes in {time.perf_counter() - start:.1f} s)",
            flush=True,
        )
        return path, sha256

    # -- (a) ---------------------------------------------------------------------------

    def downloads(self) -> None:
        size = self.plan.download_size
        label = size_label(size)
        self.phase(f"(a) download of {label}: deployment vs nginx serving the file")
        self.framework = self.api.create_framework("bench-deploy", "1")
        path, sha256 = self.test_file("download.bin", size)
        self.pk = self.api.create_model(self.framework, "download")
        self.size = size
        _, body = self.api.upload(self.pk, path)
        if body["data_sha256"] != sha256:
            raise BenchError("the stored SHA-256 differs from the file's")
        client.warm(path)
        os.sync()
        static = StaticNginx(self.workspace.path, path.parent)
        static.start()
        runs_static, runs_app = [], []
        try:
            session = client.new_session()
            # Taken in turns, so that a change of the VM's speed meets both.
            for _ in range(DOWNLOAD_RUNS):
                runs_static.append(client.download(session, f"{static.url}/{path.name}"))
                runs_app.append(self.api.download(self.pk))
            session.close()
        finally:
            static.stop()
        for runs in (runs_app, runs_static):
            wrong = [t for t in runs if t.status != 200 or t.size != size]
            if wrong:
                raise BenchError(f"a download answered {wrong[0].status}, {wrong[0].size} bytes")
        app, plain = median_rate(runs_app), median_rate(runs_static)
        self.report.add(
            "a",
            f"download {label} through the deployment",
            app,
            mb_s(app),
            note=f"median of {DOWNLOAD_RUNS}: {rates(runs_app)} MB/s",
        )
        self.report.add(
            "a",
            f"download {label} from nginx, static file",
            plain,
            mb_s(plain),
            note=f"median of {DOWNLOAD_RUNS}: {rates(runs_static)} MB/s",
        )
        ratio = app / plain
        self.report.add(
            "a", "deployment / static nginx", ratio, f"{ratio:.2f}x", at_least(0.9, ">= 0.9x")
        )

    # -- (b) ---------------------------------------------------------------------------

    def concurrent(self) -> None:
        n, processes = self.plan.concurrent_downloads, self.plan.client_processes
        label = size_label(self.size)
        self.phase(f"(b) GET /v1/pretrained-models/{{pk}} while {n} downloads of {label} run")
        url = f"{self.api.base}/pretrained-models/{self.pk}/download"
        latencies: list[tuple[float, float, bool]] = []
        with FORK.Pool(processes, _worker_init) as pool:
            start_at = time.monotonic() + 1.0
            jobs = [(url, self.api.token, self.size, n // processes, start_at)] * processes
            pending = pool.map_async(client.download_worker, jobs, chunksize=1)
            deadline = time.monotonic() + PHASE_DEADLINE
            while time.monotonic() < start_at:
                time.sleep(0.01)
            while not pending.ready() and time.monotonic() < deadline:
                began = time.monotonic()
                seconds, ok = self.api.retrieve_latency(self.pk)
                latencies.append((began, seconds, ok))
            parts = pending.get(timeout=PHASE_DEADLINE)
        downloads = [d for p in parts for d in p[1]]
        first, last = min(d[0] for d in downloads), max(d[1] for d in downloads)
        errors = [d[3] for d in downloads if d[3]]
        rate = sum(d[2] for d in downloads) / (last - first) / 1e6
        self.report.add(
            "b",
            f"{n} x {label}: aggregate download",
            rate,
            mb_s(rate),
            note=f"{last - first:.1f} s; {len(errors)} errors "
            + "; ".join(sorted(set(errors)))[:150],
        )
        during = [(s, ok) for began, s, ok in latencies if first <= began <= last]
        if not during:
            self.report.add("b", "GET /pretrained-models/{pk} meanwhile", 0, "no sample")
            return
        seconds = [s for s, _ in during]
        p99 = percentile(seconds, 99)
        self.report.add(
            "b",
            "GET /pretrained-models/{pk} meanwhile: p99",
            p99,
            ms(p99),
            below(0.2, "< 200 ms"),
            f"{len(seconds)} requests, median {ms(statistics.median(seconds))}, "
            f"max {ms(max(seconds))}, {sum(not ok for _, ok in during)} errors",
        )

    # -- (c) ---------------------------------------------------------------------------

    def hostile(self) -> None:
        self.phase("(c) an anonymous upload declaring 2 GiB, sent as fast as possible")
        port = self.deployment.port
        pushes = [
            hostile.push_upload(
                port,
                "127.0.0.2",
                hostile.upload_head(self.pk, hostile.DECLARED),
                hostile.DECLARED,
                read=True,
                until=time.monotonic() + 60,
            )
            for _ in range(3)
        ]
        push = sorted(pushes, key=lambda p: p.answered_after or float("inf"))[1]
        answered = push.answered_after if push.answered_after is not None else float("inf")
        self.report.add(
            "c",
            "anonymous 2 GiB upload: time to the answer",
            answered,
            ms(answered),
            below(0.1, "< 100 ms"),
            f"status {push.status} (median of 3: "
            + ", ".join(ms(p.answered_after or float("inf")) for p in pushes)
            + ")"
            + (f"; {push.error}" if push.error else ""),
        )
        self.report.add(
            "c",
            "anonymous 2 GiB upload: status",
            push.status,
            str(push.status),
            equal(401, "401"),
        )
        self.report.add(
            "c",
            "anonymous 2 GiB upload: bytes read by nginx by then",
            push.server_read,
            hostile.size_text(push.server_read),
            below(MIB, "< 1 MiB"),
            f"the client had sent {hostile.size_text(push.sent_by_answer)} of body "
            "(socket buffers)",
        )

        plan = self.plan
        self.phase(
            f"(c) {plan.slow_headers} connections sending headers a byte every "
            f"{plan.slow_pause:g} s, {plan.slow_seconds:g} s"
        )
        url, token = self.deployment.url, self.api.token
        before = hostile.api_loop(url, token, self.pk, time.monotonic() + plan.slow_seconds / 2)
        socks, refused = [], 0
        for i in range(plan.slow_headers):
            try:
                socks.append(hostile.connect(port, f"127.0.2.{1 + i % 5}", timeout=2))
            except OSError:
                refused += 1
        head = b"GET /v1/pretrained-models/1 HTTP/1.1\r\nHost: modelhub\r\nAccept: */*\r\n"
        trickler = hostile.Trickler(socks, head, plan.slow_pause)
        until = time.monotonic() + plan.slow_seconds
        calls = hostile.in_background(lambda: hostile.api_loop(url, token, self.pk, until))
        trickler.run(until)
        during = calls()
        still_open = len(trickler.open)
        trickler.close()
        if not before.seconds or not during.seconds:
            self.report.add("c", "API latency before / during", 0, "no sample")
            return
        b99, d99 = percentile(before.seconds, 99), percentile(during.seconds, 99)
        self.report.add(
            "c",
            "GET /pretrained-models/{pk}: p99 before",
            b99,
            ms(b99),
            note=before.summary(),
        )
        self.report.add(
            "c",
            f"... p99 during {plan.slow_headers} slow-header connections",
            d99,
            ms(d99),
            Target("<= 2x before", lambda v: v <= max(2 * b99, 0.01)),
            f"{during.summary()}; {still_open}/{len(socks)} still open at the end, "
            f"{refused} refused",
        )
        self.report.add(
            "c",
            "API errors during the slow headers",
            during.errors,
            str(during.errors),
            equal(0, "0"),
        )

    # -- (d) ---------------------------------------------------------------------------

    def upload(self) -> None:
        size = self.plan.upload_size
        label = size_label(size)
        self.phase(f"(d) upload of {label} through the deployment")
        path, sha256 = self.test_file("upload.bin", size)
        client.warm(path)
        pk = self.api.create_model(self.framework, "upload")
        os.sync()
        before = self.deployment.io()
        (transfer, body) = self.api.upload(pk, path)
        # Writeback of the blob is counted when its pages are dirtied, so this
        # is complete at the answer; the spooled body may still be freed.
        time.sleep(1)
        after = self.deployment.io()
        path.unlink()
        written = after.get("write_bytes", 0) - before.get("write_bytes", 0)
        cancelled = after.get("cancelled_write_bytes", 0) - before.get("cancelled_write_bytes", 0)
        wchar = after.get("wchar", 0) - before.get("wchar", 0)
        body_s = transfer.body_seconds or transfer.seconds
        self.report.add(
            "d",
            f"upload {label} (SHA-256 included)",
            transfer.mb_per_s,
            mb_s(transfer.mb_per_s),
            at_least(200, ">= 200 MB/s"),
            f"{transfer.seconds:.1f} s = body sent in {body_s:.1f} s + "
            f"{transfer.seconds - body_s:.1f} s after it",
        )
        same = body["data_sha256"] == sha256 and body["data_size"] == size
        self.report.add("d", "stored SHA-256 and size", same, str(same), Target("True", bool))
        ratio = written / size
        self.report.add(
            "d",
            "bytes written to storage / file size",
            ratio,
            f"{ratio:.2f}x",
            Target("<= 1.1x (once)", lambda v: v <= 1.1),
            f"write_bytes {mib(written)} (nginx + instances, /proc/<pid>/io); "
            f"cancelled_write_bytes {mib(cancelled)} (deleted before writeback); "
            f"wchar {mib(wchar)}",
        )

    # -- (e) ---------------------------------------------------------------------------

    def listing(self) -> list[int]:
        count = self.plan.models
        self.phase(f"(e) list with {count:,} models")
        existing = len(self.api.post("/pretrained-models/list"))
        start = time.perf_counter()
        with FORK.Pool(1, _worker_init) as pool:
            added = pool.apply(
                bulk.insert_models,
                (PRODUCTION_INI, existing, count - existing, self.framework, ADMIN),
            )
        print(
            f"  (added {added:,} models through the services in "
            f"{time.perf_counter() - start:.1f} s, deployment running)",
            flush=True,
        )
        self.api.login()
        times, response = self.api.list_times(self.plan.list_repeats)
        listed = response.json()
        median = statistics.median(times)
        self.report.add(
            "e",
            f"list {len(listed):,} models: median",
            median,
            ms(median),
            below(1.0, "< 1 s"),
            f"{self.plan.list_repeats} runs, max {ms(max(times))}, "
            f"{len(response.content) / MIB:.1f} MiB of JSON",
        )
        return [m["pk"] for m in listed]

    # -- (f) ---------------------------------------------------------------------------

    def retrieve(self, pks: list[int], instances: int) -> tuple[float, float]:
        connections, duration = self.plan.retrieve_connections, self.plan.retrieve_seconds
        self.phase(
            f"(f) GET /v1/pretrained-models/{{pk}}, wrk with {connections} connections for "
            f"{duration:g} s, {instances} instance(s)"
        )
        if WRK is None:
            raise BenchError("wrk is not installed (apt-get install wrk)")
        pks_file = self.workspace.path / "pks.txt"
        pks_file.write_text("".join(f"{pk}\n" for pk in pks))
        cpu, instance_cpu = harness.cpu_times(), self.deployment.instance_cpu()
        command = [WRK, "-t2", f"-c{connections}", f"-d{duration:g}s", "--timeout", "5s"]
        run = subprocess.run(
            [*command, "-s", str(RETRIEVE_SCRIPT), self.deployment.url + "/"],
            env={**os.environ, "TOKEN": self.api.token, "PKS_FILE": str(pks_file)},
            capture_output=True,
            text=True,
            timeout=duration + 60,
        )
        if run.returncode != 0:
            raise BenchError(f"wrk failed: {run.stderr.strip() or run.stdout.strip()}")
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        per_request = (self.deployment.instance_cpu() - instance_cpu) / max(1, figures["requests"])
        seconds = figures["duration_us"] / 1e6
        errors = figures["non_2xx"] + figures["socket_errors"]
        ok = figures["requests"] - errors
        rate, p99 = ok / seconds, figures["p99_us"] / 1e6
        self.report.add(
            "f",
            f"retrieve, {instances} instance(s): throughput",
            rate,
            f"{rate:.0f} req/s",
            at_least(500, ">= 500 req/s") if instances > 1 else None,
            f"{ok:,} in {seconds:.1f} s, {errors} errors; instances' CPU "
            f"{ms(per_request)} a request; machine CPU: "
            f"{harness.cpu_summary(cpu, harness.cpu_times())}",
        )
        self.report.add(
            "f",
            f"retrieve, {instances} instance(s): p99",
            p99,
            ms(p99),
            below(0.05, "< 50 ms") if instances > 1 else None,
            f"median {ms(figures['p50_us'] / 1e6)}, max {ms(figures['max_us'] / 1e6)}",
        )
        return rate, p99

    def scaling(self, pks: list[int]) -> None:
        two, _ = self.retrieve(pks, self.deployment.instances)
        print("  (restarting the deployment with --instances 1)", flush=True)
        self.deployment.stop()
        self.deployment.start(1)
        one, _ = self.retrieve(pks, 1)
        ratio = two / one
        self.report.add(
            "f",
            "throughput 2 instances / 1",
            ratio,
            f"{ratio:.2f}x",
            at_least(1.7, ">= 1.7x"),
            f"{os.cpu_count()} CPUs on this machine, clients included",
        )

    def run(self) -> None:
        d = self.deployment
        print(
            f"deployment: {d.url} (nginx + {len(d.instance_pids())} instances, "
            f"pids {', '.join(map(str, d.instance_pids()))})",
            flush=True,
        )
        self.downloads()
        self.concurrent()
        self.hostile()
        self.upload()
        pks = self.listing()
        self.scaling(pks[:1000])


def _worker_init() -> None:
    """Pool workers get SIGTERM's default back: the benchmark's handler (raise
    ``SystemExit``) can leave a worker hung when the pool terminates it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def median_rate(runs: list[Transfer]) -> float:
    return sorted(t.mb_per_s for t in runs)[len(runs) // 2]


def rates(runs: list[Transfer]) -> str:
    return ", ".join(f"{t.mb_per_s:.0f}" for t in runs)


def main(argv: list[str] | None = None) -> int:
    args = harness.bench_arguments(__doc__ or "", argv)
    plan = Plan.quick() if args.quick else Plan.full()
    harness.print_header("deployment", args.quick)
    print(
        f"plan       download {size_label(plan.download_size)}, "
        f"{plan.concurrent_downloads} concurrent; upload {size_label(plan.upload_size)}; "
        f"{plan.models:,} models; retrieve {plan.retrieve_connections} connections x "
        f"{plan.retrieve_seconds:g} s",
        flush=True,
    )
    for tool, missing in ((NGINX, "nginx-light"), (WRK, "wrk")):
        if tool is None:
            print(f"error: install Debian's {missing} first (apt-get install {missing})")
            return 2

    harness.raise_on_sigterm()
    started, machine_cpu = time.perf_counter(), harness.cpu_times()
    try:
        workspace = Workspace.create(args.tmpdir, plan.min_free)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"workspace  {workspace.path} (removed at the end)", flush=True)
    benchmark: Benchmark | None = None
    database = ""
    deployment: Deployment | None = None
    status = 0
    try:
        database = create_database()
        print(f"database   {database} (dropped at the end)", flush=True)
        deployment = Deployment(workspace.path, database)
        # The services this process forks (bulk inserts) read production.ini's
        # environment variables too.
        os.environ.update(
            {k: deployment.env[k] for k in ("MODELHUB_DATABASE_URL", "MODELHUB_BLOB_ROOT")}
        )
        os.environ["MODELHUB_JWT_KEY"] = deployment.env["MODELHUB_JWT_KEY"]
        deployment.start(2)
        harness.create_admin(PRODUCTION_INI, ADMIN, PASSWORD)
        benchmark = Benchmark(plan, workspace, deployment)
        benchmark.run()
    except (BenchError, RuntimeError, OSError) as exc:
        tail = deployment.tail() if deployment else ""
        print(f"\nerror: {exc}\n--- deployment log (tail) ---\n{tail}", file=sys.stderr)
        status = 1
    finally:
        if deployment is not None:
            deployment.stop()
        if database:
            drop_database(database)
        workspace.close()
    if benchmark is not None and benchmark.report.rows:
        harness.print_results(benchmark.report, started, machine_cpu)
    return status


if __name__ == "__main__":
    sys.exit(main())
