"""Models whose file lives upstream, downloaded through a live server on
SQLite and PostgreSQL from a local upstream that misbehaves on demand."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.upstream_server import UpstreamServer
from tests.integration.web.conftest import LiveServer, create_model

MIB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Live:
    """A live server, with shortcuts for models whose file is upstream."""

    def __init__(self, server: LiveServer) -> None:
        self.url, self.registry = server.url, server.registry
        self.session, self.blob_root = server.session, server.blob_root
        self.blob_files = server.blob_files

    def api(self, path: str) -> str:
        return f"{self.url}/v1/pretrained-models{path}"

    def model(self, source: str, pin: str | None = None, name: str = "remote") -> int:
        model = create_model(self.session, self.url, name, source=source, source_sha256=pin)
        assert model["data_state"] == "remote" and model["data"] is True
        return model["pk"]

    def get(self, pk: int) -> dict[str, Any]:
        return self.session.get(self.api(f"/{pk}"), timeout=30).json()

    def download(self, pk: int, **headers: str) -> requests.Response:
        return self.session.get(self.api(f"/{pk}/download"), headers=headers, timeout=60)

    def wait_until(self, pk: int, state: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            model = self.get(pk)
            if model["data_state"] == state or time.monotonic() > deadline:
                return model
            time.sleep(0.05)

    def staging_files(self) -> list[Path]:
        folder = self.blob_root / "tmp"
        return list(folder.iterdir()) if folder.exists() else []


@pytest.fixture
def upstream() -> Iterator[UpstreamServer]:
    server = UpstreamServer()
    yield server
    server.close()


@pytest.fixture
def live(database_url: str, serve: Callable[..., LiveServer]) -> Callable[..., Live]:
    """Starts a live server on SQLite or PostgreSQL; 24 threads, since each
    download of an arriving file holds one."""

    def start(**overrides: Any) -> Live:
        overrides.setdefault("fetch_timeout", 5)
        overrides.setdefault("fetch_retries", 2)
        overrides.setdefault("max_file_size", 64 * MIB)
        return Live(serve(database_url, 24, **overrides))

    return start


class Client(threading.Thread):
    """A download in a thread of its own: what it received, and when."""

    def __init__(self, live: Live, pk: int) -> None:
        super().__init__(daemon=True)
        self.live, self.pk = live, pk
        self.first_byte = threading.Event()
        self.body = bytearray()
        self.status: int | None = None
        self.length: int | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        url = self.live.api(f"/{self.pk}/download")
        headers = {"Authorization": self.live.session.headers["Authorization"]}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=60) as response:
                self.status = response.status_code
                length = response.headers.get("Content-Length")
                self.length = int(length) if length else None
                for chunk in response.iter_content(64 * 1024):
                    self.body += chunk
                    self.first_byte.set()
        except requests.RequestException as exc:
            self.error = exc
        finally:
            self.first_byte.set()


def test_concurrent_first_downloads_share_one_transfer(
    live: Callable[..., Live], upstream: UpstreamServer
) -> None:
    server = live()
    data = os.urandom(4 * MIB)
    hold = threading.Event()
    upstream.add("big.bin", data, hold=hold, chunk=256 * 1024)
    pk = server.model(upstream.url("big.bin"))

    clients = [Client(server, pk) for _ in range(16)]
    for client in clients:
        client.start()
    # Upstream holds its last chunk: every client has bytes before it ends.
    for client in clients:
        assert client.first_byte.wait(30)
    assert all(client.body for client in clients)
    assert server.get(pk)["data_state"] == "fetching"
    hold.set()
    for client in clients:
        client.join(60)

    assert [c.error for c in clients] == [None] * 16
    assert {sha(bytes(c.body)) for c in clients} == {sha(data)}
    assert upstream.requests["/big.bin"] == 1
    model = server.wait_until(pk, "local")
    assert (model["data_sha256"], model["data_size"]) == (sha(data), len(data))
    assert len(server.blob_files()) == 1

    again = server.download(pk)
    assert again.content == data and again.headers["ETag"] == f'"{sha(data)}"'
    assert upstream.requests["/big.bin"] == 1


def test_a_dropped_upstream_connection_is_resumed(
    live: Callable[..., Live], upstream: UpstreamServer
) -> None:
    server = live()
    data = os.urandom(MIB)
    upstream.add("flaky.bin", data, cut_first_after=300_000)
    pk = server.model(upstream.url("flaky.bin"), pin=sha(data))

    response = server.download(pk)

    assert response.status_code == 200 and response.content == data
    assert response.headers["ETag"] == f'"{sha(data)}"'  # pinned: known from the start
    assert upstream.requests["/flaky.bin"] == 2
    assert upstream.ranges[-1] is not None and upstream.ranges[-1].startswith("bytes=")
    assert server.wait_until(pk, "local")["data_sha256"] == sha(data)
    assert len(server.blob_files()) == 1


def test_bytes_other_than_pinned_are_never_delivered_whole(
    live: Callable[..., Live], upstream: UpstreamServer
) -> None:
    server = live()
    data = os.urandom(2 * MIB)
    hold = threading.Event()
    upstream.add("swapped.bin", data, hold=hold)
    pk = server.model(upstream.url("swapped.bin"), pin=sha(b"the bytes the admin expected"))

    clients = [Client(server, pk) for _ in range(3)]
    for client in clients:
        client.start()
    for client in clients:
        assert client.first_byte.wait(30)
    hold.set()
    for client in clients:
        client.join(60)

    for client in clients:
        assert client.status == 200
        assert client.error is not None or len(client.body) < len(data)
        assert len(client.body) < len(data)
    later = server.download(pk)
    assert later.status_code == 502
    assert "pinned" in later.json()["detail"]
    model = server.get(pk)
    assert (model["data_state"], model["data_sha256"]) == ("remote", None)
    assert server.blob_files() == []
    assert server.staging_files() == []
    assert upstream.requests["/swapped.bin"] == 1


@pytest.mark.parametrize(
    ("behaviour", "status", "words"),
    [
        ({"status": 404}, 502, "HTTP 404"),
        ({"status": 500}, 502, "HTTP 500"),
        ({"hang": True}, 504, "no data for 1 s"),
    ],
    ids=["404", "500", "hang"],
)
def test_upstream_failures_answer_502_or_504_without_credentials(
    live: Callable[..., Live],
    upstream: UpstreamServer,
    behaviour: dict[str, Any],
    status: int,
    words: str,
) -> None:
    server = live(fetch_timeout=1, fetch_retries=0)
    upstream.add("bad.bin", b"x" * 1000, **behaviour)
    pk = server.model(upstream.url("bad.bin?token=secret-token", "alice:secret-password@"))

    response = server.download(pk)

    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert words in detail
    assert "secret" not in detail and "alice" not in detail
    # Remembered for a while: the next caller hears the same without a new attempt.
    requests_so_far = upstream.requests["/bad.bin"]
    assert server.download(pk).status_code == status
    assert upstream.requests["/bad.bin"] == requests_so_far
    assert server.get(pk)["data_state"] == "remote"


def test_a_range_of_a_remote_model_is_answered_as_the_bytes_arrive(
    live: Callable[..., Live], upstream: UpstreamServer
) -> None:
    server = live()
    data = os.urandom(MIB)
    upstream.add("ranged.bin", data, delay=0.01, chunk=64 * 1024)
    pk = server.model(upstream.url("ranged.bin"), pin=sha(data))

    response = server.download(pk, Range="bytes=1000-1999")

    assert response.status_code == 206
    assert response.content == data[1000:2000]
    assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert server.wait_until(pk, "local")["data_sha256"] == sha(data)


def test_an_unpinned_file_has_no_etag_until_it_is_stored(
    live: Callable[..., Live], upstream: UpstreamServer
) -> None:
    server = live()
    data = os.urandom(MIB)
    upstream.add("plain.bin", data, announce_size=False)
    pk = server.model(upstream.url("plain.bin"))

    first = server.download(pk)
    assert first.content == data
    assert "ETag" not in first.headers
    server.wait_until(pk, "local")
    assert server.download(pk).headers["ETag"] == f'"{sha(data)}"'


def test_fetch_starts_the_transfer_without_a_client(
    live: Callable[..., Live], upstream: UpstreamServer
) -> None:
    server = live()
    data = os.urandom(MIB)
    hold = threading.Event()
    upstream.add("warm.bin", data, hold=hold)
    pk = server.model(upstream.url("warm.bin"))

    started = server.session.post(server.api(f"/{pk}/fetch"), timeout=30)
    assert started.status_code == 202 and started.json()["data_state"] == "fetching"
    hold.set()
    assert server.wait_until(pk, "local")["data_sha256"] == sha(data)
    done = server.session.post(server.api(f"/{pk}/fetch"), timeout=30)
    assert done.status_code == 200 and done.json()["data_state"] == "local"
    assert upstream.requests["/warm.bin"] == 1

    no_source = server.model(upstream.url("x"), name="plain")
    server.session.patch(server.api(f"/{no_source}"), json={"source": None}, timeout=30)
    assert server.session.post(server.api(f"/{no_source}/fetch"), timeout=30).status_code == 400
    server.session.delete(server.api(f"/{pk}"), timeout=30)
    assert server.session.post(server.api(f"/{pk}/fetch"), timeout=30).status_code == 409
    assert server.download(pk).status_code == 410


def test_lifecycle_of_a_model_with_a_source(
    live: Callable[..., Live], upstream: UpstreamServer
) -> None:
    server = live()
    data = os.urandom(MIB)
    upstream.add("cycle.bin", data)
    pk = server.model(upstream.url("cycle.bin"))
    assert server.download(pk).content == data
    server.wait_until(pk, "local")

    # Delete file: back to remote; the next download fetches again.
    deleted = server.session.delete(server.api(f"/{pk}/data"), timeout=30).json()
    assert (deleted["data_state"], deleted["data"]) == ("remote", True)
    assert server.download(pk).content == data
    assert upstream.requests["/cycle.bin"] == 2

    # Set file: the upload replaces the source's bytes; the source stays.
    server.wait_until(pk, "local")
    uploaded = server.session.post(
        server.api(f"/{pk}/data"),
        data=b"my own weights",
        headers={"Content-Type": "application/data"},
        timeout=30,
    ).json()
    assert uploaded["source"] == upstream.url("cycle.bin")
    assert (uploaded["data_state"], uploaded["data_sha256"]) == ("local", sha(b"my own weights"))
    assert server.download(pk).content == b"my own weights"


def test_a_hard_delete_abandons_the_transfer(
    live: Callable[..., Live], upstream: UpstreamServer
) -> None:
    server = live(fetch_lease=timedelta(seconds=3))
    data = os.urandom(2 * MIB)
    hold = threading.Event()
    upstream.add("doomed.bin", data, hold=hold)
    pk = server.model(upstream.url("doomed.bin"))
    client = Client(server, pk)
    client.start()
    assert client.first_byte.wait(30)

    assert server.session.delete(server.api(f"/{pk}/hard"), timeout=30).status_code == 200
    hold.set()
    client.join(60)

    assert len(client.body) < len(data)
    deadline = time.monotonic() + 20
    while server.staging_files() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.staging_files() == []
    assert server.blob_files() == []
