"""Hostile and slow clients against the real server.

Starts ``pserve`` on a temporary copy of ``development.ini`` (its own
database, blobs and key in a temporary folder, waitress on a free 127.0.0.1
port, the ini's server settings), then measures:

(a) one anonymous upload declaring 2 GiB: time to the answer, the bytes the
    client sent before it, and the server's temporary disk meanwhile; from a
    raw socket that sends as fast as it can, and from ``requests``, which
    sends the whole body before it reads (no ``Expect: 100-continue``);
(b) ten such uploads at once, repeated for the whole phase, while an admin
    uploads a file and another client calls the API;
(c) nine anonymous uploads that trickle one byte every 2 s;
(d) 300 connections from five addresses that send their headers one byte
    every 5 s, with API calls meanwhile; then 80 connections from one address
    (the per-address cap);
(e) 98 logged-in downloads (two addresses) that read 5 bytes every 5 s,
    with API calls meanwhile.

``--baseline`` runs the same against plain waitress with the server section
as it was before the modelhub server (``egg:waitress#main``, waitress's
defaults for connections and timeouts). Attacking clients use other loopback
addresses (127.0.0.2 ...) than the API client (127.0.0.1).

Run by hand, not by the test suite::

    .venv/bin/python bench/hostile_clients.py              # ~3 minutes, 3 GB free
    .venv/bin/python bench/hostile_clients.py --baseline   # ~4 minutes, 25 GB free
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import errno
import fcntl
import multiprocessing
import os
import select
import socket
import statistics
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import client
import harness
import requests
from client import Api, percentile
from harness import ADMIN, GIB, MIB, PASSWORD, BenchError, Server, Workspace
from report import Report, at_least, below, equal, mib, ms

FORK = multiprocessing.get_context("fork")
DECLARED = 2 * GIB
CHUNK = MIB
ZEROS = memoryview(bytes(CHUNK))
# Settings the modelhub server added to [server:main]; --baseline drops them.
NEW_SERVER_SETTINGS = (
    "connection_limit",
    "asyncore_use_poll",
    "header_timeout",
    "channel_timeout",
    "max_request_header_size",
    "connections_per_address",
    "lingering_time",
    "lingering_timeout",
)
UPLOAD_HEADERS = (
    "Content-Type: application/data\r\nContent-Disposition: attachment; filename=data\r\n"
)


# -- the server's temporary disk -------------------------------------------------


def temp_bytes(pid: int, folder: Path) -> int:
    """Disk used by the files under ``folder`` that ``pid`` holds open
    (waitress's spooled bodies are unlinked temporary files)."""
    total = 0
    prefix = str(folder)
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd).startswith(prefix):
                    total += os.stat(fd).st_blocks * 512
    return total


def _proc_address(address: tuple[str, int]) -> str:
    host, port = address
    return f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"


# linux/sockios.h: bytes in a socket's send queue not sent yet (TIOCOUTQ
# would also count those sent but not acknowledged, which over loopback are
# in the server's receive queue already).
SIOCOUTQNSD = 0x894B


def unread_bytes(sock: socket.socket) -> int:
    """Bytes written on ``sock`` that the server has not read yet: waiting in
    the server socket's receive queue, or not sent from the client's send
    queue (over loopback, nothing sent is anywhere else).

    The server's queue is read first: bytes that cross from the client's
    queue to the server's while the two are read (over loopback, as fast as
    the server reads) are then missed, never counted twice.
    """
    queued = 0
    server_side = (_proc_address(sock.getpeername()), _proc_address(sock.getsockname()))
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        if (cols[1], cols[2]) == server_side:
            queued += int(cols[4].split(":")[1], 16)
    return queued + struct.unpack("i", fcntl.ioctl(sock, SIOCOUTQNSD, b"\0" * 4))[0]


class TempDiskPeak:
    """Samples ``temp_bytes`` every 50 ms in a thread; ``peak`` is the most seen."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, temp_bytes(self.server.pid, self.server.tmpdir))
            self._stop.wait(0.05)

    def __enter__(self) -> TempDiskPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def settle(server: Server, timeout: float = 60.0) -> None:
    """Wait until the server holds no temporary file any more."""
    deadline = time.monotonic() + timeout
    while temp_bytes(server.pid, server.tmpdir) and time.monotonic() < deadline:
        time.sleep(0.2)


# -- raw HTTP clients --------------------------------------------------------------


def connect(
    port: int, source: str, timeout: float = 10.0, rcvbuf: int | None = None
) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def upload_head(pk: int, length: int, token: str | None = None, extra: str = "") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST /v1/pretrained-models/{pk}/data HTTP/1.1\r\nHost: modelhub\r\n"
        f"Content-Length: {length}\r\n{UPLOAD_HEADERS}{auth}{extra}\r\n"
    ).encode()


def status_of(head: bytes) -> int:
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


@dataclass
class Push:
    """One upload sent as fast as the server takes it."""

    answered_after: float | None = None  # seconds from the head to the answer
    status: int = 0
    sent: int = 0  # body bytes the client sent in all
    sent_by_answer: int = 0  # ...of which before the answer arrived
    server_read: int = 0  # bytes of the request the server had read by then
    error: str | None = None


def push_upload(
    port: int,
    source: str,
    head: bytes,
    length: int,
    *,
    read: bool,
    until: float,
) -> Push:
    """Send ``head`` and ``length`` body bytes as fast as possible. With
    ``read``, stop at the answer; else (an attacker) ignore the answer and
    the server's end of the connection, and send on until the server stops
    taking bytes, all are sent, or ``until`` (monotonic)."""
    result = Push()
    try:
        sock = connect(port, source)
    except OSError as exc:
        result.error = f"connect: {exc}"
        return result
    with sock:
        sock.setblocking(False)
        start = time.monotonic()
        pending = memoryview(head)
        answer = b""
        reading = True
        while time.monotonic() < until:
            sending = bool(pending) or result.sent < length
            waiting = read and reading and result.answered_after is None
            if not (sending or waiting):
                break
            readable, writable, _ = select.select(
                [sock] if reading else [], [sock] if sending else [], [], 0.5
            )
            if readable:
                try:
                    data = sock.recv(65536)
                except OSError as exc:
                    result.error = errno.errorcode.get(exc.errno or 0, str(exc))
                    break
                if not data:
                    reading = False  # the server's FIN; an attacker sends on
                elif result.answered_after is None:
                    answer += data
                    if b"\r\n" in answer:
                        result.answered_after = time.monotonic() - start
                        result.status = status_of(answer)
                        result.sent_by_answer = result.sent
                        result.server_read = len(head) + result.sent - unread_bytes(sock)
                        if read:
                            break
            if writable:
                try:
                    if pending:
                        pending = pending[sock.send(pending) :]
                    else:
                        result.sent += sock.send(ZEROS[: min(CHUNK, length - result.sent)])
                except BlockingIOError:
                    pass
                except OSError as exc:
                    result.error = errno.errorcode.get(exc.errno or 0, str(exc))
                    break
    return result


def size_text(size: int) -> str:
    return f"{size / 1024:.1f} KiB" if size < MIB else mib(size)


class ZeroBody:
    """``size`` zero bytes as a ``requests`` body with a Content-Length."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.left = size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self.read(CHUNK), b"")

    def read(self, amount: int = -1) -> bytes:
        amount = self.left if amount < 0 else min(amount, self.left)
        self.left -= amount
        return bytes(amount)


def attacker(job: tuple[int, str, int, float, int]) -> tuple[int, int, list[int]]:
    """A client process: ``threads`` loops of 2 GiB anonymous uploads from
    ``source`` until ``until``, reconnecting after each. Returns the number
    of requests, the body bytes sent, and the statuses seen."""
    port, source, pk, until, threads = job
    results: list[Push] = []
    lock = threading.Lock()

    def loop() -> None:
        while time.monotonic() < until:
            push = push_upload(
                port, source, upload_head(pk, DECLARED), DECLARED, read=False, until=until
            )
            with lock:
                results.append(push)
            if push.error and push.error.startswith("connect"):
                time.sleep(0.2)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(results), sum(r.sent for r in results), [r.status for r in results]


def admin_upload(job: tuple[str, str, int, str]) -> tuple[float, int, str | None]:
    """A client process: the admin's upload. Returns seconds, status, error."""
    url, token, pk, path = job
    api = Api(url, ADMIN, PASSWORD)
    api.token = token
    api.session.headers["Authorization"] = f"Bearer {token}"
    start = time.monotonic()
    try:
        transfer, _ = api.upload(pk, Path(path))
        return transfer.seconds, transfer.status, None
    except Exception as exc:
        return time.monotonic() - start, 0, f"{type(exc).__name__}: {exc}"[:200]


@dataclass
class Latencies:
    """API calls made in a loop meanwhile."""

    seconds: list[float] = field(default_factory=list)
    errors: int = 0

    def summary(self) -> str:
        if not self.seconds:
            return "no call answered"
        return (
            f"{len(self.seconds)} calls, median {ms(statistics.median(self.seconds))}, "
            f"p99 {ms(percentile(self.seconds, 99))}, {self.errors} errors/timeouts"
        )


def api_loop(url: str, token: str, pk: int, until: float, timeout: float = 10.0) -> Latencies:
    """``GET /v1/pretrained-models/{pk}`` from 127.0.0.1 until ``until``."""
    found = Latencies()
    while time.monotonic() < until:
        session = client.new_session(token)  # a new connection each time, as a new client
        start = time.perf_counter()
        try:
            response = session.get(f"{url}/v1/pretrained-models/{pk}", timeout=timeout)
            if response.status_code == 200:
                found.seconds.append(time.perf_counter() - start)
            else:
                found.errors += 1
        except requests.RequestException:
            found.errors += 1
        finally:
            session.close()
        time.sleep(0.2)
    return found


def in_background(action: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``action`` in a thread; the returned function waits for its result."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(action()), daemon=True)
    thread.start()

    def result() -> Any:
        thread.join()
        return box[0]

    return result


class Trickler:
    """Many connections that each send one byte every ``pause`` seconds."""

    def __init__(self, socks: list[socket.socket], data: bytes, pause: float) -> None:
        self.open = {sock: 0 for sock in socks}
        self.opened = time.monotonic()
        self.closed_after: list[float] = []
        self.data = data
        self.pause = pause

    def run(self, until: float) -> None:
        while self.open and time.monotonic() < until:
            for sock, sent in list(self.open.items()):
                if self._closed(sock):
                    self._drop(sock)
                    continue
                try:
                    sock.send(self.data[sent % len(self.data) : sent % len(self.data) + 1])
                    self.open[sock] = sent + 1
                except OSError:
                    self._drop(sock)
            deadline = min(until, time.monotonic() + self.pause)
            while time.monotonic() < deadline and self.open:
                for sock in list(self.open):
                    if self._closed(sock):
                        self._drop(sock)
                time.sleep(0.25)

    def _closed(self, sock: socket.socket) -> bool:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        try:
            return sock.recv(65536, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _drop(self, sock: socket.socket) -> None:
        self.open.pop(sock, None)
        self.closed_after.append(time.monotonic() - self.opened)
        sock.close()

    def close(self) -> None:
        for sock in self.open:
            sock.close()
        self.open = {}


# -- the run -----------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    attackers: int = 10
    attack_seconds: float = 30.0
    admin_file: int = 256 * MIB
    trickles: int = 9
    slow_headers: int = 300
    slow_addresses: int = 5
    slow_seconds: float = 45.0
    cap_probe: int = 80
    slow_downloads: int = 98
    download_file: int = 64 * MIB
    download_seconds: float = 30.0


class Benchmark:
    def __init__(self, plan: Plan, workspace: Workspace, server: Server, api: Api) -> None:
        self.plan = plan
        self.workspace = workspace
        self.server = server
        self.api = api
        self.report = Report()
        self.pk = 0

    @property
    def port(self) -> int:
        return self.server.port

    def phase(self, title: str) -> None:
        print(f"\n== {title}", flush=True)
        self.api.login()

    # -- (a) ---------------------------------------------------------------------------

    def one_upload(self) -> None:
        self.phase("(a) one anonymous upload declaring 2 GiB")
        framework = self.api.create_framework("bench", "1")
        self.pk = self.api.create_model(framework, "target")
        settle(self.server)
        with TempDiskPeak(self.server) as disk:
            push = push_upload(
                self.port,
                "127.0.0.2",
                upload_head(self.pk, DECLARED),
                DECLARED,
                read=True,
                until=time.monotonic() + 300,
            )
        answered = push.answered_after if push.answered_after is not None else float("inf")
        self.report.add(
            "a",
            "raw socket: time to the answer",
            answered,
            ms(answered),
            below(1.0, "< 1 s"),
            f"status {push.status}; {push.error or ''}".rstrip("; "),
        )
        self.report.add(
            "a",
            "server: request bytes read by then",
            push.server_read,
            size_text(push.server_read),
            below(MIB, "< 1 MiB"),
            f"the client had sent {mib(push.sent_by_answer)} of body (socket buffers)",
        )
        self.report.add(
            "a", "server temporary disk, peak", disk.peak, mib(disk.peak), below(MIB, "< 1 MiB")
        )
        settle(self.server)
        session = client.new_session()
        body = ZeroBody(DECLARED)
        start = time.perf_counter()
        try:
            response = session.post(
                f"{self.server.url}/v1/pretrained-models/{self.pk}/data",
                data=body,
                headers={"Content-Type": "application/data"},
                timeout=(10, 300),
            )
            outcome, status = f"status {response.status_code}", response.status_code
        except requests.RequestException as exc:
            outcome, status = f"{type(exc).__name__}", 0
        seconds = time.perf_counter() - start
        session.close()
        self.report.add(
            "a",
            "requests (whole body first): answer",
            status,
            str(status),
            equal(401, "401"),
            f"{outcome} after {seconds:.1f} s, {mib(DECLARED - body.left)} of body sent",
        )
        settle(self.server)

    # -- (b) ---------------------------------------------------------------------------

    def parallel_uploads(self) -> None:
        plan = self.plan
        self.phase(
            f"(b) {plan.attackers} anonymous 2 GiB uploads at once, for {plan.attack_seconds:g} s"
        )
        path = self.workspace.path / "admin.bin"
        client.random_file(path, plan.admin_file)
        client.warm(path)
        target = self.api.create_model(self.api.create_framework("bench-b", "1"), "admin-target")
        alone, _ = self.api.upload(target, path)  # for reference, without an attack
        settle(self.server)
        until = time.monotonic() + plan.attack_seconds
        with TempDiskPeak(self.server) as disk, FORK.Pool(3) as pool:
            attack = pool.map_async(
                attacker,
                [
                    (self.port, f"127.0.0.{3 + i}", self.pk, until, plan.attackers // 2)
                    for i in range(2)
                ],
            )
            time.sleep(2)  # the attack is under way
            upload = pool.apply_async(
                admin_upload, ((self.server.url, self.api.token, target, str(path)),)
            )
            calls = api_loop(self.server.url, self.api.token, self.pk, until)
            seconds, status, error = upload.get(timeout=900)
            attacks = attack.get(timeout=900)
        requests_made = sum(a[0] for a in attacks)
        sent = sum(a[1] for a in attacks)
        statuses = sorted({s for a in attacks for s in a[2]})
        rate = plan.admin_file / seconds / 1e6 if status == 200 else 0.0
        self.report.add(
            "b",
            f"admin upload of {mib(plan.admin_file)} meanwhile",
            status,
            str(status),
            equal(200, "200"),
            f"{seconds:.1f} s, {rate:.0f} MB/s (alone: {alone.mb_per_s:.0f} MB/s); "
            f"{error or ''}".rstrip("; "),
        )
        self._report_api_calls("b", calls)
        self.report.add(
            "b",
            "server temporary disk, peak",
            disk.peak,
            mib(disk.peak),
            below(plan.admin_file + 64 * MIB, "admin's only"),
            f"the admin's upload is spooled: {mib(plan.admin_file)}",
        )
        self.report.add(
            "b",
            "attacking requests, statuses",
            requests_made,
            str(requests_made),
            None,
            f"statuses {statuses}; {mib(sent)} sent by the attackers in all",
        )
        path.unlink()
        settle(self.server)

    # -- (c) ---------------------------------------------------------------------------

    def trickles(self) -> None:
        plan = self.plan
        self.phase(f"(c) {plan.trickles} anonymous uploads trickling one byte every 2 s")
        pushes: list[Callable[[], Any]] = []
        for i in range(plan.trickles):
            sock = connect(self.port, f"127.0.1.{1 + i}", timeout=2)
            sock.sendall(upload_head(self.pk, DECLARED))
            pushes.append(in_background(lambda sock=sock: self._trickle(sock, 12.0)))
        answers = [push() for push in pushes]
        answered = [a for a in answers if a is not None]
        self.report.add(
            "c",
            "answered within 12 s",
            len(answered),
            f"{len(answered)}/{plan.trickles}",
            equal(plan.trickles, "all"),
            f"median {ms(statistics.median(answered))}" if answered else "",
        )

    @staticmethod
    def _trickle(sock: socket.socket, seconds: float) -> float | None:
        """Seconds until an answer arrives while one byte goes every 2 s."""
        start = time.monotonic()
        with sock:
            while time.monotonic() - start < seconds:
                readable, _, _ = select.select([sock], [], [], 2.0)
                if readable:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        return None
                    return time.monotonic() - start if data else None
                try:
                    sock.send(b"\x00")
                except OSError:
                    return None
        return None

    # -- (d) ---------------------------------------------------------------------------

    def slow_headers(self) -> None:
        plan = self.plan
        self.phase(
            f"(d) {plan.slow_headers} connections sending headers one byte every 5 s, "
            f"{plan.slow_seconds:g} s"
        )
        socks, refused = [], 0
        for i in range(plan.slow_headers):
            try:
                socks.append(
                    connect(self.port, f"127.0.2.{1 + i % plan.slow_addresses}", timeout=2)
                )
            except OSError:
                refused += 1
        head = (
            b"POST /v1/auth/obtain HTTP/1.1\r\nHost: modelhub\r\nContent-Type: application/json\r\n"
        )
        trickler = Trickler(socks, head, 5.0)
        until = time.monotonic() + plan.slow_seconds
        calls = in_background(lambda: api_loop(self.server.url, self.api.token, self.pk, until))
        trickler.run(until)
        latencies: Latencies = calls()
        closed = trickler.closed_after
        trickler.close()
        self._report_api_calls("d", latencies)
        self.report.add(
            "d",
            "slow connections closed by the server",
            len(closed),
            f"{len(closed)}/{len(socks)}",
            at_least(len(socks), "all"),
            f"median after {statistics.median(closed):.1f} s"
            if closed
            else f"{refused} not connected",
        )
        # One address opening many connections.
        probes: list[socket.socket] = []
        statuses: list[int] = []
        for _ in range(plan.cap_probe):
            with contextlib.suppress(OSError):
                probes.append(connect(self.port, "127.0.3.1", timeout=2))
        time.sleep(1)
        for sock in probes:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                with contextlib.suppress(OSError):
                    statuses.append(status_of(sock.recv(65536)))
            sock.close()
        refusals = statuses.count(503)
        self.report.add(
            "d",
            f"{plan.cap_probe} connections from one address: 503",
            refusals,
            f"{refusals}/{len(probes)}",
            None,
            "answered at once, Retry-After, closed",
        )

    # -- (e) ---------------------------------------------------------------------------

    def slow_downloads(self) -> None:
        plan = self.plan
        self.phase(f"(e) {plan.slow_downloads} downloads reading 5 bytes every 5 s")
        path = self.workspace.path / "download.bin"
        client.random_file(path, plan.download_file)
        pk = self.api.create_model(self.api.create_framework("bench-e", "1"), "download")
        self.api.upload(pk, path)
        path.unlink()
        request = (
            f"GET /v1/pretrained-models/{pk}/download HTTP/1.1\r\nHost: modelhub\r\n"
            f"Authorization: Bearer {self.api.token}\r\n\r\n"
        ).encode()
        socks: list[socket.socket] = []
        for i in range(plan.slow_downloads):
            with contextlib.suppress(OSError):
                sock = connect(self.port, f"127.0.4.{1 + i % 2}", timeout=5, rcvbuf=4096)
                sock.sendall(request)
                socks.append(sock)
        statuses: list[int] = []
        for sock in socks:
            try:
                statuses.append(status_of(sock.recv(12, socket.MSG_WAITALL)))  # "HTTP/1.1 200"
            except OSError:
                statuses.append(0)
        until = time.monotonic() + plan.download_seconds
        calls = in_background(lambda: api_loop(self.server.url, self.api.token, self.pk, until))
        while time.monotonic() < until:
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.setblocking(False)
                    with contextlib.suppress(BlockingIOError):
                        sock.recv(5)
            time.sleep(5)
        latencies: Latencies = calls()
        for sock in socks:
            sock.close()
        self._report_api_calls("e", latencies)
        self.report.add(
            "e",
            "slow downloads started / refused",
            statuses.count(200),
            f"{statuses.count(200)} / {statuses.count(503)}",
            None,
            f"{len(socks)} connections from 2 addresses",
        )

    def _report_api_calls(self, phase: str, calls: Latencies) -> None:
        """The errors of the API calls made while a phase's attack ran."""
        self.report.add(
            phase,
            "API calls meanwhile, errors",
            calls.errors,
            str(calls.errors),
            equal(0, "0"),
            calls.summary(),
        )

    def run(self, phases: str = "abcde") -> None:
        self.one_upload()  # (a) also makes the model the others attack
        for phase, action in (
            ("b", self.parallel_uploads),
            ("c", self.trickles),
            ("d", self.slow_headers),
            ("e", self.slow_downloads),
        ):
            if phase in phases:
                action()


def write_ini(workspace: Path, port: int, baseline: bool) -> Path:
    ini = harness.write_ini(workspace, port)
    if baseline:
        config = configparser.RawConfigParser()
        config.optionxform = str  # type: ignore[assignment,method-assign]
        config.read(ini)
        server = config["server:main"]
        server["use"] = "egg:waitress#main"
        for key in NEW_SERVER_SETTINGS:
            server.pop(key, None)
        with ini.open("w") as out:
            config.write(out)
    return ini


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline", action="store_true", help="plain waitress, the server section as before"
    )
    parser.add_argument(
        "--tmpdir", type=Path, help="where the temporary folder goes (default: $TMPDIR or /tmp)"
    )
    parser.add_argument(
        "--phases", default="abcde", help="which phases to run (a always runs), e.g. ad"
    )
    args = parser.parse_args(argv)
    plan = Plan()
    label = "plain waitress (--baseline)" if args.baseline else "modelhub server"
    print(f"# modelhub hostile-clients benchmark: {label}")
    for key, value in harness.system_info():
        print(f"{key:<11} {value}")

    harness.raise_on_sigterm()
    started = time.perf_counter()
    need = (plan.attackers + 3) * DECLARED if args.baseline else 3 * 10**9
    try:
        workspace = Workspace.create(args.tmpdir, need)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    port = harness.free_port()
    ini = write_ini(workspace.path, port, args.baseline)
    config = configparser.RawConfigParser()
    config.read(ini)
    print("server     " + ", ".join(f"{k} = {v}" for k, v in config["server:main"].items()))
    benchmark: Benchmark | None = None

    def run(server: Server) -> None:
        nonlocal benchmark
        benchmark = Benchmark(plan, workspace, server, Api(server.url, ADMIN, PASSWORD))
        benchmark.run(args.phases)

    status = harness.run_on_server(workspace, ini, port, run)
    if benchmark is not None:
        print(f"\n## Results: {label} ({time.perf_counter() - started:.0f} s in all)\n")
        print(benchmark.report.markdown())
    return status


if __name__ == "__main__":
    sys.exit(main())
