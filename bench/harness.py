"""The real server under test: a temporary ini, ``pserve`` as a subprocess,
the process that actually serves, and its memory and CPU figures.

Everything the benchmark writes lives in one temporary folder (database,
blobs, signing key, the server's own temporary files, the test files), which
``Workspace.close`` removes whatever happens.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import ctypes
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
GIB = 1024**3
MIB = 1024**2
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The account every benchmark logs in with.
ADMIN, PASSWORD = "admin", "bench-admin-passphrase"


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


# -- the temporary folder ---------------------------------------------------


@dataclass
class Workspace:
    """A temporary folder removed by ``close`` (also on Ctrl-C or SIGTERM)."""

    path: Path

    @classmethod
    def create(cls, parent: Path | None, min_free: int) -> Workspace:
        parent = Path(parent or tempfile.gettempdir())
        free = shutil.disk_usage(parent).free
        if free < min_free:
            raise BenchError(
                f"only {free / GIB:.1f} GiB free under {parent}; the benchmark needs "
                f"{min_free / GIB:.0f} GiB (choose another folder with --tmpdir)"
            )
        return cls(Path(tempfile.mkdtemp(prefix="modelhub-bench-", dir=parent)))

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def raise_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit`` so ``finally`` blocks clean up."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


# -- the server -------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_ini(workspace: Path, port: int, template: Path = ROOT / "development.ini") -> Path:
    """``development.ini`` with its data in ``workspace`` and waitress on ``port``.

    Every other setting, the waitress thread count included, is kept.
    """
    config = configparser.RawConfigParser()
    config.optionxform = str  # type: ignore[assignment,method-assign]
    config.read(template)
    app, server = config["app:main"], config["server:main"]
    app["sqlalchemy.url"] = f"sqlite:///{workspace / 'modelhub.sqlite'}"
    app["modelhub.blob_root"] = str(workspace / "blobs")
    app["modelhub.jwt_key_file"] = str(workspace / "jwt.key")
    server["listen"] = f"127.0.0.1:{port}"
    server.pop("port", None)
    server.pop("host", None)
    ini = workspace / "bench.ini"
    with ini.open("w") as out:
        config.write(out)
    return ini


@dataclass
class Server:
    """``pserve <ini>`` in its own process group, and the process that serves."""

    ini: Path
    port: int
    log: Path
    tmpdir: Path
    process: subprocess.Popen[bytes] | None = None
    pid: int = 0  # the process that owns the listening socket
    starts: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start ``pserve`` and wait until it answers HTTP."""
        self.tmpdir.mkdir(exist_ok=True)
        # waitress spools large request bodies with tempfile: keep them in
        # the workspace, so they are counted and removed with it.
        env = {**os.environ, "TMPDIR": str(self.tmpdir)}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "pserve"), str(self.ini)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"pserve exited with {self.process.returncode}:\n{self.tail()}")
            try:
                requests.get(f"{self.url}/v1/", timeout=2)
            except requests.ConnectionError:
                time.sleep(0.1)
                continue
            self.pid = serving_pid(self.process.pid, self.port)
            return
        raise BenchError(f"pserve did not answer within {START_TIMEOUT:.0f} s:\n{self.tail()}")

    def stop(self) -> None:
        """SIGTERM to the process group we started, SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # -- figures of the serving process --------------------------------------

    def reset_peak_rss(self) -> None:
        """Make VmHWM start again from the current RSS."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def peak_rss(self) -> int:
        """VmHWM in bytes."""
        return _status_kib(self.pid, "VmHWM") * 1024

    def rss(self) -> int:
        return _status_kib(self.pid, "VmRSS") * 1024

    def cpu_seconds(self) -> float:
        """User plus system CPU time the serving process has used."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def threads(self) -> int:
        return _status_kib(self.pid, "Threads")


def _die_with_parent() -> None:
    """In the child before ``exec``: SIGTERM it if the benchmark dies, even
    by SIGKILL, so that no server outlives its run (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise BenchError(f"no {key} in /proc/{pid}/status")


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid``."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(cols[9])
    return inodes


def serving_pid(root: int, port: int) -> int:
    """The process in ``root``'s tree that holds the socket listening on ``port``.

    ``pserve`` serves in its own process unless ``--reload`` makes it a
    monitor; this checks rather than assumes.
    """
    inodes = _listening_inodes(port)
    for pid in [root, *_children(root)]:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return pid
    raise BenchError(f"no process under pid {root} listens on port {port}")


def run_on_server(
    workspace: Workspace, ini: Path, port: int, run: Callable[[Server], object]
) -> int:
    """Start ``pserve`` on ``ini``, make the benchmark's admin, then
    ``run(server)``; the server stops and the workspace goes whatever happens.

    Returns 0, or 1 after an error, printed with the tail of the server's log.
    """
    server = Server(ini, port, workspace.path / "server.log", workspace.path / "tmp")
    print(f"workspace  {workspace.path} (removed at the end)", flush=True)
    try:
        server.start()
        create_admin(ini, ADMIN, PASSWORD)
        run(server)
    except (BenchError, RuntimeError, OSError) as exc:
        print(f"\nerror: {exc}\n--- server log (tail) ---\n{server.tail()}", file=sys.stderr)
        return 1
    finally:
        server.stop()
        workspace.close()
    return 0


def create_admin(ini: Path, username: str, password: str) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "modelhub-create-user"), str(ini), username, "--admin"],
        input=password + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"modelhub-create-user failed:\n{result.stdout}{result.stderr}")


# -- the machine --------------------------------------------------------------


def system_info() -> list[tuple[str, str]]:
    """Date, kernel, CPU, memory, Python and the versions that matter."""
    uname = subprocess.run(["uname", "-srm"], capture_output=True, text=True, check=False)
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = _meminfo_kib("MemTotal") * 1024
    versions = []
    for name in ("waitress", "pyramid", "SQLAlchemy", "requests"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions.append(f"{name} {version(name)}")
    info = [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("uname -srm", uname.stdout.strip()),
        ("CPU", f"{cpu} x {os.cpu_count()}"),
        ("memory", f"{mem / GIB:.1f} GiB"),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("packages", ", ".join(versions)),
        ("load avg", " ".join(Path("/proc/loadavg").read_text().split()[:3])),
    ]
    damon = damon_pageout()
    if damon:
        info.append(("DAMON", damon))
    return info


def damon_pageout() -> str | None:
    """A note if the kernel pages out idle memory (page cache included) by
    itself: then a file untouched for a while is no longer "warm"."""
    root = Path("/sys/kernel/mm/damon/admin/kdamonds")
    notes = []
    with contextlib.suppress(OSError, ValueError):
        for kdamond in root.glob("[0-9]*"):
            if (kdamond / "state").read_text().strip() != "on":
                continue
            for context in kdamond.glob("contexts/[0-9]*"):
                aggr_us = int((context / "monitoring_attrs/intervals/aggr_us").read_text())
                for scheme in context.glob("schemes/[0-9]*"):
                    if (scheme / "action").read_text().strip() != "pageout":
                        continue
                    age = int((scheme / "access_pattern/age/min").read_text())
                    quota = int((scheme / "quotas/bytes").read_text())
                    notes.append(
                        f"pageout of memory idle >= {age * aggr_us / 1e6:g} s "
                        f"(up to {quota / MIB:g} MiB per "
                        f"{int((scheme / 'quotas/reset_interval_ms').read_text())} ms), "
                        "page cache included"
                    )
    return "; ".join(notes) or None


def cpu_times() -> dict[str, int]:
    """The machine's CPU time counters (``/proc/stat``, in ticks)."""
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    values = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    return dict(zip(names, map(int, values), strict=True))


def cpu_summary(before: dict[str, int], after: dict[str, int]) -> str:
    """Where the machine's CPU time went between two ``cpu_times``."""
    delta = {key: after[key] - before[key] for key in before}
    total = sum(delta.values()) or 1
    parts = (
        ("user", delta["user"] + delta["nice"]),
        ("system", delta["system"] + delta["irq"] + delta["softirq"]),
        ("iowait", delta["iowait"]),
        ("steal", delta["steal"]),
        ("idle", delta["idle"]),
    )
    return ", ".join(f"{name} {value / total:.0%}" for name, value in parts)


def _meminfo_kib(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def bench_arguments(doc: str, argv: list[str] | None) -> argparse.Namespace:
    """The options every benchmark takes: ``--quick`` and ``--tmpdir``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke check")
    parser.add_argument(
        "--tmpdir", type=Path, help="where the temporary folder goes (default: $TMPDIR or /tmp)"
    )
    return parser.parse_args(argv)


def print_header(title: str, quick: bool) -> None:
    """The benchmark's title and the machine it runs on."""
    print(f"# modelhub {title} benchmark" + (" (--quick)" if quick else ""))
    for key, value in system_info():
        print(f"{key:<11} {value}")


def print_results(report: Any, started: float, machine_cpu: dict[str, int]) -> None:
    """The run's figures as a Markdown table, then the targets it missed."""
    print(f"\n## Results ({time.perf_counter() - started:.0f} s in all)\n")
    print(f"Machine CPU over the run: {cpu_summary(machine_cpu, cpu_times())}.\n")
    print(report.markdown())
    misses = report.misses()
    print(f"\n{len(misses)} target(s) missed" + (":" if misses else "."))
    for row in misses:
        print(f"- {row.phase}: {row.measure}: {row.result} (target {row.target})")


def run_benchmark(
    title: str,
    args: argparse.Namespace,
    plan: str,
    min_free: int,
    benchmark: Callable[[Workspace, Server], Any],
) -> int:
    """A benchmark's whole run: its header and ``plan`` line, a workspace of
    at least ``min_free`` bytes, the server on a copy of ``development.ini``;
    ``benchmark(workspace, server)`` builds the object whose ``run()``
    measures and whose ``report`` is printed at the end."""
    print_header(title, args.quick)
    print(f"plan       {plan}", flush=True)
    raise_on_sigterm()
    started, machine_cpu = time.perf_counter(), cpu_times()
    built: Any = None
    try:
        workspace = Workspace.create(args.tmpdir, min_free)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    port = free_port()
    ini = write_ini(workspace.path, port)

    def run(server: Server) -> None:
        nonlocal built
        built = benchmark(workspace, server)
        built.run()

    status = run_on_server(workspace, ini, port, run)
    if built is not None:
        print_results(built.report, started, machine_cpu)
    return status
