"""When the database or the store cannot serve: 503 or 507 with a clear JSON
body, never a 500, and nothing half-done.

- A pool with no free connection answers 503 with ``Retry-After``; an upload
  holds no connection while its body is copied; the pool is sized from the
  server's thread count.
- PostgreSQL going away (a restart: connections dropped, new ones refused)
  answers 503 with ``Retry-After``, an upload in flight included, and the
  service recovers by itself once the database is back.
- A full blob store answers 507 and keeps nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from webob import Request

from adapters.sqlalchemy import session as sessions
from entrypoints.settings import load_settings
from entrypoints.web import server_threads
from tests.integration.web.conftest import Api, _build_api, _fresh_postgres

BASE = "/v1/pretrained-models"
MIB = 1024 * 1024


class SlowBody:
    """A request body that stops half-way until ``go`` is set (each read
    gives all it is asked for, as WebOb expects of a request body)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0
        self.half_read, self.go = threading.Event(), threading.Event()

    def read(self, size: int = -1) -> bytes:
        if self.position >= len(self.data) // 2:
            self.half_read.set()
            assert self.go.wait(30), "the test never let the body go on"
        size = len(self.data) - self.position if size < 0 else size
        chunk = self.data[self.position : self.position + size]
        self.position += len(chunk)
        return chunk


def start_upload(api: Api, pk: int, body: SlowBody) -> tuple[threading.Thread, list[Any]]:
    """POST the slow body to the model's file in a thread; its response lands
    in the returned list."""
    request = Request.blank(
        f"{BASE}/{pk}/data",
        method="POST",
        headers={**api.admin, "Content-Type": "application/data"},
    )
    request.body_file = body  # type: ignore[assignment]
    request.content_length = len(body.data)
    responses: list[Any] = []
    thread = threading.Thread(target=lambda: responses.append(request.get_response(api.app.app)))
    thread.start()
    return thread, responses


@pytest.fixture
def small_pool(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """The API with one pooled connection (and the two of overflow), each
    waited for at most a second."""
    api = _build_api(
        database_url, tmp_path / "blobs", db_pool_size=1, db_pool_timeout=1, max_file_size=8 * MIB
    )
    yield api
    api.registry.dispose()


@contextlib.contextmanager
def held_connections(api: Api, count: int) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for _ in range(count):
            stack.enter_context(api.registry.engine.connect())
        yield


def test_an_exhausted_pool_answers_503_with_retry_after(small_pool: Api) -> None:
    pk = small_pool.model()["pk"]
    with held_connections(small_pool, 3):
        response = small_pool.app.get(f"{BASE}/{pk}", headers=small_pool.user, status=503)
    assert response.json == {"detail": "Every database connection is busy; try again shortly."}
    assert int(response.headers["Retry-After"]) > 0
    small_pool.app.get(f"{BASE}/{pk}", headers=small_pool.user, status=200)


def test_an_upload_holds_no_connection_while_its_body_is_copied(small_pool: Api) -> None:
    pk = small_pool.model()["pk"]
    body = SlowBody(os.urandom(4 * MIB))
    with held_connections(small_pool, 2):  # one connection left
        thread, responses = start_upload(small_pool, pk, body)
        assert body.half_read.wait(30)
        small_pool.app.get(f"{BASE}/{pk}", headers=small_pool.user, status=200)
        body.go.set()
        thread.join(60)
    (response,) = responses
    assert response.status_int == 200, response.text
    assert response.json["data_size"] == len(body.data)


def test_the_pool_is_sized_from_the_server_threads(tmp_path: Path) -> None:
    raw = {"sqlalchemy.url": "sqlite://", "modelhub.blob_root": "b", "modelhub.jwt_key": "k"}
    assert load_settings(raw, server_threads=16).db_pool_size == 18
    assert load_settings({**raw, "modelhub.db_pool_size": "40"}, 16).db_pool_size == 40
    ini = tmp_path / "server.ini"
    ini.write_text("[app:main]\nuse = egg:modelhub\n\n[server:main]\nthreads = 12\n")
    assert server_threads({"__file__": str(ini)}) == 12
    assert server_threads({}) is None


# -- PostgreSQL going away ---------------------------------------------------------------


class Proxy:
    """A TCP relay in front of the database that can go down and come back
    on the same port, as a restarting server does."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.listener: socket.socket | None = None
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Close the listener and every relayed connection."""
        assert self.listener is not None
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread in accept()
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def proxied(migrated_postgres_url: str, tmp_path: Path) -> Iterator[tuple[Api, Proxy]]:
    url = make_url(migrated_postgres_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    _fresh_postgres(migrated_postgres_url)
    api = _build_api(through, tmp_path / "blobs", max_file_size=8 * MIB)
    yield api, proxy
    api.registry.dispose()
    with contextlib.suppress(Exception):
        proxy.stop()


@pytest.mark.postgresql
def test_a_database_restart_answers_503_then_recovers(proxied: tuple[Api, Proxy]) -> None:
    api, proxy = proxied
    pk = api.model()["pk"]
    api.upload(pk, b"old weights")
    api.app.get(f"{BASE}/{pk}", headers=api.user, status=200)

    proxy.stop()
    calls: list[Callable[[], Any]] = [
        lambda: api.app.get(f"{BASE}/{pk}", headers=api.user, status=503),
        lambda: api.app.post_json(f"{BASE}/list", {}, headers=api.user, status=503),
        lambda: api.app.get(f"{BASE}/{pk}/download", headers=api.user, status=503),
        lambda: api.app.post_json(
            "/v1/auth/obtain", {"username": "alice", "password": "x"}, status=503
        ),
    ]
    for call in calls * 3:
        response = call()
        assert set(response.json) == {"detail"} and int(response.headers["Retry-After"]) > 0

    proxy.start()
    assert api.app.get(f"{BASE}/{pk}", headers=api.user).json["data_size"] == len(b"old weights")


@pytest.mark.postgresql
def test_a_database_restart_while_idle_costs_no_request(
    proxied: tuple[Api, Proxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pooled connections left idle are tested before use, and the dead ones
    replaced, so the first request after a quiet restart is answered."""
    monkeypatch.setattr(sessions, "IDLE_BEFORE_PING", 0.2)
    api, proxy = proxied
    pk = api.model()["pk"]
    api.app.get(f"{BASE}/{pk}", headers=api.user, status=200)
    proxy.stop()
    proxy.start()
    time.sleep(0.3)
    api.app.get(f"{BASE}/{pk}", headers=api.user, status=200)
    api.app.post_json(f"{BASE}/list", {}, headers=api.user, status=200)


@pytest.mark.postgresql
def test_an_upload_in_flight_when_the_database_goes_answers_503(
    proxied: tuple[Api, Proxy],
) -> None:
    api, proxy = proxied
    pk = api.model()["pk"]
    api.upload(pk, b"old weights")
    body = SlowBody(os.urandom(2 * MIB))
    thread, responses = start_upload(api, pk, body)
    assert body.half_read.wait(30)
    proxy.stop()
    body.go.set()
    thread.join(60)
    (response,) = responses
    assert response.status_int == 503 and int(response.headers["Retry-After"]) > 0
    assert set(response.json) == {"detail"}
    assert list(api.registry.store.temporaries()) == []
    proxy.start()
    model = api.app.get(f"{BASE}/{pk}", headers=api.user).json
    assert model["data_size"] == len(b"old weights")


# -- a full store ------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB filesystem (tmpfs; needs root, as CI has)."""
    folder = tmp_path / "small"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        reason = f"cannot mount a small tmpfs: {done.stderr.decode().strip()}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_store_answers_507_and_keeps_nothing(sqlite_url: str, small_disk: Path) -> None:
    api = _build_api(sqlite_url, small_disk, max_file_size=64 * MIB)
    try:
        pk = api.model()["pk"]
        api.upload(pk, b"small weights")
        response = api.upload(pk, os.urandom(12 * MIB), status=507)
        assert response.json == {"detail": "The file store is full; nothing was stored."}
        assert list(api.registry.store.temporaries()) == []
        model = api.app.get(f"{BASE}/{pk}", headers=api.user).json
        assert model["data_size"] == len(b"small weights")
        api.upload(pk, b"other small weights")  # the room is back
    finally:
        api.registry.dispose()
