"""Resumable uploads raced: two parts at one offset at once (a client's retry),
two last parts at once, a last part against a termination, and against the
expiry that ``gc`` collects. Whatever the interleaving, exactly one of them
wins, the file is attached at most once and whole, and nothing is left over.

Each race runs many rounds on SQLite and on PostgreSQL: through the real
services, each call in a thread and a transaction of its own as the server
makes them, and through two real server processes (``pserve``) sharing the
database and the blob folder, each of the two requests sent to another one.
``MODELHUB_RACE_ROUNDS`` scales the rounds (default 200: 25 through the
services, 8 through the servers, per race).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
import requests

from domain.errors import Conflict, NotFound
from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry
from tests.integration.web.conftest import create_model, make_registry
from tests.integration.web.test_model_races import run_together
from tests.integration.web.test_upstream_processes import Server, servers  # noqa: F401

SCALE = int(os.environ.get("MODELHUB_RACE_ROUNDS", "200"))
SERVICE_ROUNDS, SERVER_ROUNDS = max(1, SCALE // 8), max(1, SCALE // 25)
PART = 256 * 1024
RACES = (
    "two parts at one offset",
    "two last parts",
    "last part and termination",
    "last part and expiry",
)


class Later:
    """A clock two days ahead: the ``gc`` of an instance to which the
    upload has expired, while it has not to the one receiving its part."""

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(days=2)


class Client:
    """One way of speaking to the registry; outcomes are HTTP statuses."""

    def create(self, pk: int, length: int) -> str:
        raise NotImplementedError

    def part(self, upload: str, offset: int, data: bytes, via: int) -> int:
        raise NotImplementedError

    def terminate(self, upload: str, via: int) -> int:
        raise NotImplementedError

    def model(self, name: str) -> int:
        raise NotImplementedError


class ServiceClient(Client):
    """Each call in a transaction of its own on the real services."""

    def __init__(self, registry: Registry, admin: int) -> None:
        self.registry = registry
        self.admin = admin

    def _call(self, action: Callable[..., object]) -> int:
        try:
            with self.registry.transaction() as services:
                action(services, services.uow.users.get(self.admin))
        except Conflict:
            return 409
        except NotFound:
            return 404
        return 204

    def create(self, pk: int, length: int) -> str:
        with self.registry.transaction() as services:
            return services.uploads.create(services.uow.users.get(self.admin), pk, length).id

    def part(self, upload: str, offset: int, data: bytes, via: int) -> int:
        return self._call(
            lambda s, me: s.uploads.append(me, upload, offset, io.BytesIO(data), len(data))
        )

    def terminate(self, upload: str, via: int) -> int:
        return self._call(lambda s, me: s.uploads.terminate(me, upload))

    def model(self, name: str) -> int:
        with self.registry.transaction() as services:
            framework = services.frameworks.get_or_create(SYSTEM, "onnx", "1")
            body = {"framework": framework.pk, "domain": "ic", "licence": "MIT"}
            model = services.models.create(
                SYSTEM, {**body, "name": name, "url": "https://example.org/m", "description": ""}
            )
            return model.pk


class HttpClient(Client):
    """Requests to real server processes, each on a connection of its own."""

    TUS = {"Tus-Resumable": "1.0.0"}

    def __init__(self, processes: list[Server]) -> None:
        self.servers = processes

    def _send(
        self,
        method: str,
        url: str,
        via: int,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> requests.Response:
        server = self.servers[via % len(self.servers)]
        sent = {**self.TUS, "Authorization": server.session.headers["Authorization"]}
        with requests.Session() as session:
            return session.request(
                method, server.url + url, headers={**sent, **(headers or {})}, data=data, timeout=60
            )

    def create(self, pk: int, length: int) -> str:
        model = base64.b64encode(str(pk).encode()).decode()
        headers = {"Upload-Length": str(length), "Upload-Metadata": f"model {model}"}
        response = self._send("POST", "/v1/uploads", 0, headers)
        assert response.status_code == 201, response.text
        return response.headers["Location"].rsplit("/", 1)[1]

    def part(self, upload: str, offset: int, data: bytes, via: int) -> int:
        headers = {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        return self._send("PATCH", f"/v1/uploads/{upload}", via, headers, data).status_code

    def terminate(self, upload: str, via: int) -> int:
        return self._send("DELETE", f"/v1/uploads/{upload}", via).status_code

    def model(self, name: str) -> int:
        return create_model(self.servers[0].session, self.servers[0].url, name)["pk"]


@dataclass
class World:
    registry: Registry
    admin: int
    database_url: str
    blob_root: Path

    def staging_files(self) -> list[Path]:
        return list((self.blob_root / "tmp").glob("upload-*.part"))

    def gc_later(self) -> Callable[[], int]:
        """``gc`` as an instance to which uploads expired a day ago sees them:
        200 when it expired one, 404 when it found none to expire."""

        def collect() -> int:
            registry = make_registry(self.database_url, self.blob_root)
            registry.clock = Later()  # the services take it from here
            try:
                with registry.transaction() as services:
                    report = services.maintenance.collect_garbage(SYSTEM, timedelta(days=365))
                return 200 if report.uploads else 404
            finally:
                registry.dispose()

        return collect


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    blob_root = tmp_path / "blobs"
    registry = make_registry(database_url, blob_root, max_file_size=64 * 1024 * 1024)
    with registry.transaction() as services:
        # The admin of ``servers``, when they were started first.
        admin = services.uow.users.get_by_username("admin") or services.users.create(
            SYSTEM, {"username": "admin", "password": "pw", "is_staff": True}
        )
        services.uow.session.flush()
        admin_pk = admin.pk
    yield World(registry, admin_pk, database_url, blob_root)
    registry.dispose()


def _race(world: World, client: Client, race: str, rounds: int) -> None:
    for number in range(rounds):
        data = f"round {number} of {race} ".encode() * (2 * PART // 20)
        data = data[: 2 * PART - 7]
        pk = client.model(f"{race} {number}")
        upload = client.create(pk, len(data))
        first, rest = data[:PART], data[PART:]
        if race == "two parts at one offset":
            # A retry, or two clients: other bytes, so that a mix would show.
            other = first.swapcase()
            sent = [
                partial(client.part, upload, 0, part, via)
                for via, part in enumerate((first, other))
            ]
            outcomes = run_together(sent)
            assert sorted(outcomes) == [204, 409], (number, outcomes)
            assert client.part(upload, PART, rest, 0) == 204
            data = (first if outcomes[0] == 204 else other) + rest
        else:
            assert client.part(upload, 0, first, 0) == 204
            last = partial(client.part, upload, PART, rest, 0)
            if race == "two last parts":
                rival = partial(client.part, upload, PART, rest, 1)
            elif race == "last part and termination":
                rival = partial(client.terminate, upload, 1)
            else:
                rival = world.gc_later()
            outcomes = run_together([last, rival])
            if race == "two last parts":
                assert sorted(outcomes) in ([204, 404], [204, 409]), (number, outcomes)
            else:  # exactly one wins: the part, or the termination or expiry
                assert sorted(outcomes) in ([200, 404], [204, 404]), (number, outcomes)
        attached = race in ("two parts at one offset", "two last parts") or outcomes[0] == 204
        _check(world, pk, data if attached else None)
    assert world.staging_files() == []


def _check(world: World, pk: int, expected: bytes | None) -> None:
    """The model holds ``expected`` (None: no file), and the store exactly
    the bytes models hold."""
    store = world.registry.store
    with world.registry.transaction() as services:
        model = services.uow.models.get(pk)
        if expected is None:
            assert model.blob is None
            return
        assert model.data_sha256 == hashlib.sha256(expected).hexdigest()
        with store.open(model.blob) as file:
            assert file.read() == expected
        assert services.uow.blobs.all()[model.data_sha256] == 1


@pytest.mark.parametrize("race", RACES)
def test_races_through_the_services(world: World, race: str) -> None:
    _race(world, ServiceClient(world.registry, world.admin), race, SERVICE_ROUNDS)


def test_races_through_two_server_processes(
    servers: Callable[[], Server],  # noqa: F811 - the fixture; first, it makes the admin
    world: World,
) -> None:
    client = HttpClient([servers(), servers()])
    for race in RACES:
        _race(world, client, race, SERVER_ROUNDS)
