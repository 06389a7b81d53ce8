"""Concurrent changes of one model's file never lose another model's bytes.

Models A and B hold the same bytes X. Then, at the same moment, two hard
deletes of A, two file deletions of A, two identical uploads to A (a client
retrying) or three different uploads to A. Whatever the interleaving: B
still downloads X, the second hard delete answers 404, and every reference
count equals the number of models that point at the bytes, with a file in
the store exactly for the counted ones.

Each scenario runs many rounds on SQLite and on PostgreSQL, twice: through
the real services, each call in its own thread and transaction as a batch
script makes them, and through the HTTP API of a real waitress server.
``MODELHUB_RACE_ROUNDS`` sets the number of rounds (default 200).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests
from webtest.http import StopableWSGIServer

from domain.errors import NotFound
from domain.model import BlobRef
from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry
from entrypoints.web import make_app
from tests.integration.web.conftest import make_registry

ROUNDS = int(os.environ.get("MODELHUB_RACE_ROUNDS", "200"))
SCENARIOS = ("two hard deletes", "two file deletions", "two identical uploads", "three uploads")

# What one concurrent call gives back: an HTTP status, or the domain error's name.
Outcome = int | str


def run_together(calls: list[Callable[[], Outcome]]) -> list[Outcome]:
    """Run the calls in threads released at the same moment; their outcomes."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Outcome | BaseException] = [RuntimeError("not run")] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = calls[index]()
        except BaseException as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a call is stuck"
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes  # type: ignore[return-value]


class Client:
    """One way of acting on models: the services, or the HTTP API."""

    def hard_delete(self, pk: int) -> Outcome:
        raise NotImplementedError

    def delete_file(self, pk: int) -> Outcome:
        raise NotImplementedError

    def upload(self, pk: int, data: bytes) -> Outcome:
        raise NotImplementedError


class ServiceClient(Client):
    """Each call in a transaction of its own, as a batch script runs it."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _call(self, action: Callable[[Any], object]) -> Outcome:
        try:
            with self.registry.transaction() as services:
                action(services)
        except NotFound:
            return "NotFound"
        return "ok"

    def hard_delete(self, pk: int) -> Outcome:
        return self._call(lambda s: s.models.hard_delete(SYSTEM, pk))

    def delete_file(self, pk: int) -> Outcome:
        return self._call(lambda s: s.models.delete_file(SYSTEM, pk))

    def upload(self, pk: int, data: bytes) -> Outcome:
        return self._call(lambda s: s.models.set_file(SYSTEM, pk, io.BytesIO(data), len(data)))


class HttpClient(Client):
    """Each call a request to a real waitress server, on its own connection."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    def _send(self, method: str, path: str, **kw: Any) -> Outcome:
        headers = {**self.headers, **kw.pop("headers", {})}
        with requests.Session() as session:
            response = session.request(
                method, f"{self.url}/v1/pretrained-models{path}", headers=headers, timeout=60, **kw
            )
        return response.status_code

    def hard_delete(self, pk: int) -> Outcome:
        return self._send("DELETE", f"/{pk}/hard")

    def delete_file(self, pk: int) -> Outcome:
        return self._send("DELETE", f"/{pk}/data")

    def upload(self, pk: int, data: bytes) -> Outcome:
        headers = {"Content-Type": "application/data"}
        return self._send("POST", f"/{pk}/data", data=data, headers=headers)


@dataclass
class World:
    """The registry under test, with an admin and a framework for the models."""

    registry: Registry
    framework: int


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    registry = make_registry(database_url, tmp_path / "blobs", max_file_size=1024 * 1024)
    with registry.transaction() as services:
        services.users.create(SYSTEM, {"username": "admin", "password": "pw", "is_staff": True})
        framework = services.frameworks.create(SYSTEM, {"name": "onnx", "version": "1"})
        framework_pk = framework.pk
    yield World(registry, framework_pk)
    registry.dispose()


@pytest.fixture
def http_client(world: World) -> Iterator[HttpClient]:
    server = StopableWSGIServer.create(
        make_app(world.registry), host="127.0.0.1", threads=6, expose_tracebacks=False
    )
    url = server.application_url.rstrip("/")
    tokens = requests.post(
        f"{url}/v1/auth/obtain", json={"username": "admin", "password": "pw"}, timeout=30
    ).json()
    yield HttpClient(url, tokens["access"])
    server.shutdown()


@dataclass
class Round:
    """Models A and B holding X, and the bytes the round may upload to A."""

    number: int
    a: int
    b: int
    x: bytes
    uploads: list[bytes]


def _prepare(world: World) -> list[Round]:
    """Every round's models, made in one transaction before the races."""
    rounds = []
    with world.registry.transaction() as services:
        for number in range(ROUNDS):
            x = _content(number, "X")
            a, b = (_new_model(services, world.framework, x) for _ in "AB")
            uploads = [_content(number, f"Y{i}") for i in range(3)]
            rounds.append(Round(number, a, b, x, uploads))
    return rounds


def _content(number: int, name: str) -> bytes:
    return f"{name} of round {number} ".encode() * 50


def _new_model(services: Any, framework: int, data: bytes) -> int:
    body = {
        "name": "model",
        "framework": framework,
        "domain": "ic",
        "licence": "MIT",
        "url": "https://example.org/model",
        "description": "",
    }
    model = services.models.create(SYSTEM, body)
    services.models.set_file(SYSTEM, model.pk, io.BytesIO(data))
    return model.pk


def _check(world: World, rounds: list[Round]) -> None:
    """B still downloads X, and every count equals the models holding the bytes,
    with a file in the store exactly when the count is positive."""
    store = world.registry.store
    with world.registry.transaction() as services:
        counts = services.uow.blobs.all()
        for r in rounds:
            with services.models.download(SYSTEM, r.b).file as file:
                assert file.read() == r.x, f"round {r.number}: B lost its file"
            for data in (r.x, *r.uploads):
                ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
                holding = services.uow.models.count_holding(ref.sha256)
                where = f"round {r.number}, {data[:9]!r}"
                assert counts.get(ref.sha256, 0) == holding, f"{where}: miscounted"
                assert store.exists(ref) == (holding > 0), f"{where}: file present or not"


def _race(world: World, client: Client, scenario: str) -> None:
    rounds = _prepare(world)
    for r in rounds:
        if scenario == "two hard deletes":
            outcomes = run_together([partial(client.hard_delete, r.a)] * 2)
            assert sorted(map(str, outcomes)) in (["200", "404"], ["NotFound", "ok"]), outcomes
        elif scenario == "two file deletions":
            outcomes = run_together([partial(client.delete_file, r.a)] * 2)
        elif scenario == "two identical uploads":
            outcomes = run_together([partial(client.upload, r.a, r.uploads[0])] * 2)
        else:
            outcomes = run_together([partial(client.upload, r.a, data) for data in r.uploads])
        assert set(outcomes) <= {200, 404, "ok", "NotFound"}, f"round {r.number}: {outcomes}"
    _check(world, rounds)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_concurrent_service_calls_on_one_model(world: World, scenario: str) -> None:
    _race(world, ServiceClient(world.registry), scenario)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_concurrent_requests_on_one_model(
    world: World, http_client: HttpClient, scenario: str
) -> None:
    _race(world, http_client, scenario)
