"""Upstream transfers across server processes: ``pserve`` processes sharing
one database and one blob folder, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from domain.permissions import SYSTEM
from tests.integration.upstream_server import UpstreamServer
from tests.integration.web.conftest import JWT_KEY, admin_session, create_model, make_registry

MIB = 1024 * 1024
PSERVE = str(Path(sys.executable).parent / "pserve")
INI = """\
[app:main]
use = egg:modelhub
sqlalchemy.url = {database_url}
modelhub.blob_root = {blob_root}
modelhub.jwt_key = {jwt_key}
modelhub.fetch_timeout = 5
modelhub.fetch_retries = 2
modelhub.fetch_lease = 2

[server:main]
use = egg:modelhub#waitress
listen = 127.0.0.1:{port}
threads = 12
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One ``pserve`` process, and an admin session on it."""

    def __init__(self, folder: Path, database_url: str, blob_root: Path) -> None:
        self.port = free_port()
        ini = folder / f"server-{self.port}.ini"
        ini.write_text(
            INI.format(
                database_url=database_url, blob_root=blob_root, jwt_key=JWT_KEY, port=self.port
            )
        )
        self.process = subprocess.Popen(
            [PSERVE, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                self.session = admin_session(self.url)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def api(self, path: str) -> str:
        return f"{self.url}/v1/pretrained-models{path}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.session.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)


@pytest.fixture
def servers(database_url: str, tmp_path: Path) -> Iterator[Callable[[], Server]]:
    blob_root = tmp_path / "blobs"
    registry = make_registry(database_url, blob_root)
    with registry.transaction() as services:
        services.users.create(SYSTEM, {"username": "admin", "password": "pw", "is_staff": True})
    registry.dispose()
    started: list[Server] = []

    def start() -> Server:
        started.append(Server(tmp_path, database_url, blob_root))
        return started[-1]

    yield start
    for server in started:
        server.stop(signal.SIGKILL)


@pytest.fixture
def upstream() -> Iterator[UpstreamServer]:
    server = UpstreamServer()
    yield server
    server.close()


def create(server: Server, source: str) -> int:
    return create_model(server.session, server.url, "remote", source=source)["pk"]


def fetch_all(server: Server, pk: int, results: list[bytes | Exception]) -> None:
    try:
        response = server.session.get(server.api(f"/{pk}/download"), timeout=120)
        results.append(response.content if response.ok else RuntimeError(response.text))
    except requests.RequestException as exc:
        results.append(exc)


def test_two_processes_make_one_upstream_transfer(
    servers: Callable[[], Server], upstream: UpstreamServer
) -> None:
    one, two = servers(), servers()
    data = os.urandom(3 * MIB)
    upstream.add("shared.bin", data, delay=0.005, chunk=128 * 1024)
    pk = create(one, upstream.url("shared.bin"))

    results: list[bytes | Exception] = []
    threads = [
        threading.Thread(target=fetch_all, args=(server, pk, results)) for server in (one, two) * 6
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert [r if isinstance(r, Exception) else hashlib.sha256(r).hexdigest() for r in results] == [
        hashlib.sha256(data).hexdigest()
    ] * 12
    assert upstream.requests["/shared.bin"] == 1


def test_a_server_killed_during_a_transfer_leaves_the_registry_consistent(
    servers: Callable[[], Server],
    upstream: UpstreamServer,
    database_url: str,
    tmp_path: Path,
) -> None:
    first = servers()
    data = os.urandom(2 * MIB)
    upstream.add("slow.bin", data, delay=0.02, chunk=32 * 1024)
    pk = create(first, upstream.url("slow.bin"))
    with first.session.get(first.api(f"/{pk}/download"), stream=True, timeout=60) as response:
        assert next(response.iter_content(1024))
        first.stop(signal.SIGKILL)

    registry = make_registry(database_url, tmp_path / "blobs")
    try:
        with registry.transaction() as services:
            report = services.maintenance.verify(SYSTEM)
            assert report.problems == []
            model = services.models.retrieve(SYSTEM, pk)
            assert (model.data_state, model.data_sha256) == ("fetching", None)
        second = servers()
        time.sleep(2.5)  # the dead process's claim expires
        response = second.session.get(second.api(f"/{pk}/download"), timeout=120)
        assert response.content == data
        assert upstream.requests["/slow.bin"] == 2
        with registry.transaction() as services:
            assert services.models.retrieve(SYSTEM, pk).data_state == "local"
            assert services.maintenance.verify(SYSTEM).problems == []
            gc = services.maintenance.collect_garbage(SYSTEM, timedelta(0))
        assert len(gc.temporaries) == 1  # what the killed transfer had written
    finally:
        registry.dispose()
