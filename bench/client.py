"""The HTTP side: a ``requests`` client of the API, timed transfers, and the
worker functions that run in a pool of client processes.

Client processes are separate from the server, so nothing here counts in the
server's RSS; they are also separate from the benchmark's main process, so a
latency loop there is not slowed by the download threads' GIL.
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

MIB = 1024 * 1024
READ_CHUNK = MIB
TIMEOUT = (10.0, 900.0)  # connect, read: a 4 GiB upload is hashed before the answer
SHORT_TIMEOUT = (10.0, 60.0)


class BigBlockAdapter(HTTPAdapter):
    """Sends request bodies in 1 MiB pieces instead of urllib3's 16 KiB."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["blocksize"] = MIB
        super().init_poolmanager(*args, **kwargs)


def new_session(token: str | None = None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # never a proxy: every request goes to 127.0.0.1
    session.mount("http://", BigBlockAdapter())
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


@dataclass
class Transfer:
    """One timed upload or download."""

    size: int
    seconds: float
    status: int
    sha256: str | None = None
    body_seconds: float | None = None  # uploads: until the body was sent

    @property
    def mb_per_s(self) -> float:
        return self.size / self.seconds / 1e6 if self.seconds > 0 else 0.0


class Api:
    """The UFDL API at ``url`` (``http://127.0.0.1:port``) for one user."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.base = f"{url}/v1"
        self.username = username
        self.password = password
        self.session = new_session()
        self.token = ""

    def login(self) -> str:
        """A fresh access token (they live 5 minutes; a phase logs in first)."""
        response = self.session.post(
            f"{self.base}/auth/obtain",
            json={"username": self.username, "password": self.password},
            timeout=SHORT_TIMEOUT,
        )
        _check(response, 200)
        self.token = response.json()["access"]
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        return self.token

    def post(self, path: str, body: object = None, status: int = 200) -> Any:
        response = self.session.post(f"{self.base}{path}", json=body, timeout=TIMEOUT)
        _check(response, status)
        return response.json()

    def create_framework(self, name: str, version: str = "1") -> int:
        body = {"name": name, "version": version}
        return self.post("/frameworks/create", body, 201)["pk"]

    def create_model(self, framework: int, name: str) -> int:
        body = {
            "framework": framework,
            "domain": "ic",
            "licence": "MIT",
            "url": f"https://example.org/{name}",
            "description": f"benchmark model {name}",
            "name": name,
        }
        return self.post("/pretrained-models/create", body, 201)["pk"]

    def upload(self, pk: int, path: Path) -> tuple[Transfer, dict[str, Any]]:
        """POST the file as the UFDL client does: the raw body.

        ``Transfer.body_seconds`` is when the last byte of the body was handed
        to the socket; the rest of ``seconds`` is the server's work after it.
        """
        size = path.stat().st_size
        with path.open("rb") as file:
            body = _TimedBody(file, size)
            start = time.perf_counter()
            response = self.session.post(
                f"{self.base}/pretrained-models/{pk}/data",
                data=body,
                headers={
                    "Content-Type": "application/data",
                    "Content-Disposition": "attachment; filename=data",
                },
                timeout=TIMEOUT,
            )
            end = time.perf_counter()
        _check(response, 200)
        transfer = Transfer(size, end - start, response.status_code)
        transfer.body_seconds = (body.finished or end) - start
        return transfer, response.json()

    def download(self, pk: int, **kwargs: Any) -> Transfer:
        return download(self.session, f"{self.base}/pretrained-models/{pk}/download", **kwargs)

    def list_times(self, repeats: int, spec: object = None) -> tuple[list[float], Any]:
        """Seconds of ``repeats`` ``POST /pretrained-models/list`` calls (body
        received, not parsed), after one that warms up, and the last answer."""
        url = f"{self.base}/pretrained-models/list"
        times, response = [], None
        for _ in range(repeats + 1):
            start = time.perf_counter()
            response = self.session.post(url, json=spec, timeout=TIMEOUT)
            response.content  # noqa: B018 - the whole body, inside the timing
            times.append(time.perf_counter() - start)
            _check(response, 200)
        assert response is not None
        return times[1:], response

    def retrieve_latency(self, pk: int) -> tuple[float, bool]:
        """Seconds for ``GET /pretrained-models/{pk}`` and whether it answered 200."""
        start = time.perf_counter()
        try:
            response = self.session.get(
                f"{self.base}/pretrained-models/{pk}", timeout=SHORT_TIMEOUT
            )
            ok = response.status_code == 200 and response.json()["pk"] == pk
        except requests.RequestException:
            ok = False
        return time.perf_counter() - start, ok


class _TimedBody:
    """A file as a request body that notes when its last byte was read.

    ``__len__`` gives ``requests`` the Content-Length; ``__iter__`` only
    marks it as a stream (urllib3 calls ``read``).
    """

    def __init__(self, file: Any, size: int) -> None:
        self.file = file
        self.size = size
        self.finished: float | None = None

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Any:
        return iter(lambda: self.read(MIB), b"")

    def read(self, amount: int = -1) -> bytes:
        data = self.file.read(amount)
        if not data and self.finished is None:
            self.finished = time.perf_counter()
        return data


def download(
    session: requests.Session,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    limit: int | None = None,
    digest: Any = None,
) -> Transfer:
    """GET ``url`` streaming, reading at most ``limit`` bytes, then close the
    connection. The bytes are dropped, or fed to ``digest`` if given."""
    start = time.perf_counter()
    size = 0
    with session.get(url, headers=headers, stream=True, timeout=TIMEOUT) as response:
        raw = response.raw
        while limit is None or size < limit:
            want = READ_CHUNK if limit is None else min(READ_CHUNK, limit - size)
            chunk = raw.read(want, decode_content=False)
            if not chunk:
                break
            size += len(chunk)
            if digest is not None:
                digest.update(chunk)
        status = response.status_code
        if limit is not None:
            # Drop the connection mid-body, as an interrupted client does.
            raw.close()
    seconds = time.perf_counter() - start
    return Transfer(size, seconds, status, digest.hexdigest() if digest is not None else None)


def _check(response: requests.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.url} answered {response.status_code}, "
            f"not {status}: {response.text[:300]}"
        )


# -- workers for a process pool (top-level functions, picklable) -------------


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def download_worker(
    job: tuple[str, str, int, int, float],
) -> tuple[float, list[tuple[float, float, int, str | None]]]:
    """``threads`` concurrent downloads of ``url`` that start at ``start_at``
    (``time.monotonic``, shared by every process on Linux).

    Returns the CPU seconds this client process used, and
    ``(start, end, bytes, error)`` per download.
    """
    url, token, expected, threads, start_at = job

    def one(_: int) -> tuple[float, float, int, str | None]:
        session = new_session(token)
        _sleep_until(start_at)
        start = time.monotonic()
        try:
            result = download(session, url)
            error = None
            if result.status != 200:
                error = f"status {result.status}"
            elif result.size != expected:
                error = f"{result.size} bytes, not {expected}"
            return start, time.monotonic(), result.size, error
        except Exception as exc:
            return start, time.monotonic(), 0, f"{type(exc).__name__}: {exc}"
        finally:
            session.close()

    cpu = time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, range(threads)))
    return time.process_time() - cpu, results


def retrieve_worker(
    job: tuple[str, str, list[int], float, float],
) -> tuple[int, int, float, float, list[float], float]:
    """One sequential client: ``GET`` the models in turn from ``start_at`` for
    ``duration`` seconds. Returns ``(ok, errors, first, last, latencies,
    CPU seconds of this client)``."""
    base, token, pks, start_at, duration = job
    session = new_session(token)
    _sleep_until(start_at)
    cpu = time.process_time()
    ok = errors = 0
    latencies: list[float] = []
    start = time.monotonic()
    end_at = start + duration
    index = os.getpid()  # clients walk the models from different places
    while time.monotonic() < end_at:
        pk = pks[index % len(pks)]
        index += 1
        t0 = time.perf_counter()
        try:
            response = session.get(f"{base}/pretrained-models/{pk}", timeout=SHORT_TIMEOUT)
            good = response.status_code == 200 and response.json()["pk"] == pk
        except requests.RequestException:
            good = False
        latencies.append(time.perf_counter() - t0)
        ok += good
        errors += not good
    session.close()
    return ok, errors, start, time.monotonic(), latencies, time.process_time() - cpu


# -- files ----------------------------------------------------------------------


def warm(path: Path) -> None:
    """Read the file once, so that it is in the page cache."""
    with path.open("rb", buffering=0) as file:
        buffer = bytearray(MIB)
        while file.readinto(buffer):
            pass


def random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes in 1 MiB chunks; returns their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        remaining = size
        while remaining > 0:
            chunk = os.urandom(min(MIB, remaining))
            digest.update(chunk)
            out.write(chunk)
            remaining -= len(chunk)
        out.flush()
        os.fsync(out.fileno())  # no writeback left to disturb what follows
    return digest.hexdigest()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]
