"""``modelhub migrate`` from a second modelhub server, live on waitress with
its own SQLite database and blob folder, into a registry on SQLite or
PostgreSQL: pks, fields, files, soft-deleted state, a second run, a file the
source cannot deliver, and a download cut half way through."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy import tables
from domain.model import BlobRef
from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry
from entrypoints.cli.main import main
from entrypoints.web.serializers import licence_json, model_json
from tests.conftest import empty_database
from tests.integration.conftest import BATCH_INI, Batch
from tests.integration.web.conftest import LiveServer

ALPHA = bytes(range(256)) * 16  # 4 KiB
BETA = b"beta weights " * 300
GAMMA = b"gamma weights " * 200
LARGE = hashlib.sha256(b"seed").digest() * 8192  # 256 KiB: several fetch chunks


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the source ---------------------------------------------------------------------------


class Source:
    """The live source server and shortcuts to fill it through its API."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = self.server.session.request(method, self.server.api(path), json=body, timeout=30)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def framework(self, name: str, version: str) -> int:
        return self.call("POST", "/frameworks/create", {"name": name, "version": version}, 201)[
            "pk"
        ]

    def model(self, name: str, framework: int, data: bytes | None = None, **fields: Any) -> int:
        body = {
            "framework": framework,
            "domain": "od",
            "licence": "MIT",
            "url": f"https://models.example/{name}",
            "description": f"The {name} model",
            "name": name,
            "metadata": f"{name}: top-1 76%",
            **fields,
        }
        pk: int = self.call("POST", "/pretrained-models/create", body, 201)["pk"]
        if data is not None:
            assert self.server.upload(pk, data).status_code == 200
        return pk

    def models(self) -> dict[int, dict[str, Any]]:
        found = self.call("POST", "/pretrained-models/list", {"include_inactive": True})
        return {m["pk"]: m for m in found}

    def licences(self) -> dict[int, dict[str, Any]]:
        return {x["pk"]: x for x in self.call("POST", "/licences/list", {})}

    def frameworks(self) -> dict[int, dict[str, Any]]:
        return {x["pk"]: x for x in self.call("POST", "/frameworks/list", {})}


@pytest.fixture
def source(start_server: Callable[..., LiveServer]) -> Source:
    """A source with gaps in its pks (records created, then hard-deleted):

    - licences: the seeded ones, MIT with one permission more, and a new one
      with sub-descriptors of each kind;
    - frameworks: pytorch 2.4 and keras 3.0;
    - models: alpha (a file), beta (a file, soft-deleted), gamma (no file),
      delta (a file, in the new licence and another domain), and remote
      (an upstream source not fetched yet), all created by ``admin``.
    """
    source = Source(start_server())
    custom = source.call(
        "POST",
        "/licences/create",
        {"name": "Research only", "url": "https://licences.example/research"},
        201,
    )["pk"]
    for kind, names in (
        ("domains", ["Image Classification"]),
        ("permissions", ["Private use"]),
        ("limitations", ["Commercial use", "Liability"]),
        ("conditions", ["Cite the paper"]),
    ):
        body = {"type": kind, "method": "add", "names": names}
        source.call("PATCH", f"/licences/{custom}/subdescriptors", body)
    mit = next(pk for pk, x in source.licences().items() if x["name"] == "MIT")
    body = {"type": "permissions", "method": "add", "names": ["Teaching"]}
    source.call("PATCH", f"/licences/{mit}/subdescriptors", body)

    scratch = source.framework("scratch", "0")
    torch = source.framework("pytorch", "2.4")
    keras = source.framework("keras", "3.0")
    source.call("DELETE", f"/frameworks/{scratch}", status=204)
    source.model("alpha", torch, ALPHA)
    gone = source.model("gone", torch)
    beta = source.model("beta", keras, BETA, domain="ic")
    source.call("DELETE", f"/pretrained-models/{gone}/hard")
    source.model("gamma", torch)
    source.model("delta", keras, GAMMA, licence="Research only", domain="sp")
    source.model(
        "remote",
        torch,
        source="https://upstream.example/remote.bin",
        source_sha256=sha(b"upstream"),
    )
    source.call("DELETE", f"/pretrained-models/{beta}", status=204)
    return source


# -- the target ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def target(request: pytest.FixtureRequest, batch: Batch) -> Iterator[Batch]:
    """``batch`` on a new registry: its SQLite file, or a PostgreSQL database
    of its own (dropped after), with an ``admin`` that is not user 1."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server_url")
        with empty_database(url, "modelhub_migrate") as database_url:
            (batch.root / "test.ini").write_text(
                BATCH_INI.replace("sqlite:///%(here)s/var/modelhub.sqlite", database_url)
            )
            yield _initialised(batch)
        return
    yield _initialised(batch)


def _initialised(batch: Batch) -> Batch:
    assert batch.run("initdb").code == 0
    assert batch.run("user", "add", "someone", stdin="someone-pw\n").code == 0
    assert batch.run("user", "add", "admin", "--admin", stdin="admin-pw\n").code == 0
    return batch


@contextlib.contextmanager
def registry_of(batch: Batch) -> Iterator[Registry]:
    registry = batch.registry()
    try:
        yield registry
    finally:
        registry.dispose()


def target_json(batch: Batch) -> dict[str, Any]:
    """The target's records as its API would show them."""
    with registry_of(batch) as registry, registry.transaction() as services:
        models = services.models.list(SYSTEM, {"include_inactive": True})
        users = {u.username: u.pk for u in services.users.list(SYSTEM)}
        return {
            "models": {m.pk: model_json(m) for m in models},
            "licences": {x.pk: licence_json(x) for x in services.licences.list(SYSTEM)},
            "frameworks": {
                x.pk: {"pk": x.pk, "name": x.name, "version": x.version}
                for x in services.frameworks.list(SYSTEM)
            },
            "users": users,
            "files": {
                blob.ref.sha256: hashed(registry, blob.ref) for blob in registry.store.stored()
            },
        }


def hashed(registry: Registry, ref: BlobRef) -> str:
    """The SHA-256 of the bytes stored under ``ref``, computed again."""
    with registry.store.open(ref) as stream:
        return hashlib.sha256(stream.read()).hexdigest()


def snapshot(batch: Batch) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show that nothing changed."""
    with registry_of(batch) as registry, registry.engine.connect() as conn:
        return {
            table.name: [
                tuple(row)
                for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            ]
            for table in tables.metadata.sorted_tables
        }


def migrate(batch: Batch, url: str, user: str = "admin", password: str = "pw") -> Any:
    return batch.run("migrate", "--from", url, "--user", user, stdin=f"{password}\n")


# -- the tests ----------------------------------------------------------------------------


def test_everything_is_copied_under_its_pk_and_a_second_run_changes_nothing(
    source: Source, target: Batch
) -> None:
    outcome = migrate(target, source.server.url)

    assert outcome.code == 0, outcome.err
    there, here = source.models(), target_json(target)
    assert sorted(there) != list(range(1, len(there) + 1))  # a gap: a model hard-deleted
    assert set(here["models"]) == set(there)  # the same pks, gaps included
    admin_here = here["users"]["admin"]
    for pk, model in there.items():
        copied = dict(here["models"][pk])
        assert copied.pop("creator") == admin_here  # the source's admin is user 1 there
        expected = {k: v for k, v in model.items() if k != "creator"}
        if model["deletion_time"] is not None:
            # A server serves no file of a soft-deleted model.
            expected.update(data=False, data_size=None, data_sha256=None, data_state="none")
        assert copied == expected, model["name"]
    beta = next(m for m in there.values() if m["name"] == "beta")
    assert beta["deletion_time"] is not None
    assert f"model {beta['pk']} 'beta': created, file not served: " in outcome.out
    assert "HTTP 410" in outcome.out
    stored = {m["data_sha256"] for m in here["models"].values()} - {None}
    assert stored == {sha(ALPHA), sha(GAMMA)}
    assert here["files"] == {digest: digest for digest in stored}  # the bytes hash as named
    assert here["licences"] == source.licences()
    assert here["frameworks"] == source.frameworks()
    assert "with another pk" not in outcome.out
    seeded = len(source.licences()) - 1
    # New: one licence, two frameworks, five models; MIT updated; files of
    # alpha and delta stored (beta's not served, gamma has none, remote's upstream).
    assert outcome.out.splitlines()[-1] == (
        f"{seeded + 1 + 2 + 5} records from {source.server.url}: 8 created, 1 updated, "
        f"{seeded - 1} unchanged, 2 files stored, 0 failed"
    )

    before = snapshot(target)
    again = migrate(target, source.server.url)
    assert again.code == 0, again.err
    assert snapshot(target) == before
    assert " 0 created, 0 updated," in again.out and "0 files stored, 0 failed" in again.out

    # New records here take pks after the migrated ones.
    with registry_of(target) as registry, registry.transaction() as services:
        framework = services.frameworks.create(SYSTEM, {"name": "onnx", "version": "1"})
        assert framework.pk == max(source.frameworks()) + 1
        licence = services.licences.create(SYSTEM, {"name": "New", "url": "https://x.example"})
        assert licence.pk == max(source.licences()) + 1
        model = services.models.create(
            SYSTEM,
            {
                "framework": framework.pk,
                "domain": "ic",
                "licence": "MIT",
                "url": "https://x.example",
                "description": "",
                "name": "new",
            },
        )
        assert model.pk == max(there) + 1


def test_a_taken_pk_gives_a_fresh_one_and_the_mapping_is_reported(
    source: Source, target: Batch
) -> None:
    alpha = next(m for m in source.models().values() if m["name"] == "alpha")
    with registry_of(target) as registry, registry.transaction() as services:
        framework = services.frameworks.create(SYSTEM, {"name": "mine", "version": "1"})
        services.models.create(
            SYSTEM,
            {
                "framework": framework.pk,
                "domain": "ic",
                "licence": "MIT",
                "url": "https://x.example/mine",
                "description": "",
                "name": "mine",
            },
            pk=alpha["pk"],
        )

    outcome = migrate(target, source.server.url)

    assert outcome.code == 0, outcome.err
    fresh = max(source.models()) + 1
    assert f"model {alpha['pk']} 'alpha': created as pk {fresh} (pk {alpha['pk']} is taken" in (
        outcome.out
    )
    here = target_json(target)["models"]
    assert here[alpha["pk"]]["name"] == "mine"
    assert here[fresh]["name"] == "alpha" and here[fresh]["data_sha256"] == sha(ALPHA)
    assert "1 with another pk here" in outcome.out


def test_a_file_the_source_cannot_deliver_is_reported_and_the_others_go_on(
    source: Source, batch: Batch
) -> None:
    target = _initialised(batch)
    delta = next(m for m in source.models().values() if m["name"] == "delta")
    blob = next(p for p in source.server.blob_files() if p.name == delta["data_sha256"])
    blob.unlink()

    outcome = migrate(target, source.server.url)

    assert outcome.code == 1
    assert f"model {delta['pk']} 'delta': created, file failed: Cannot fetch" in outcome.err
    assert "HTTP 404" in outcome.err
    assert outcome.out.splitlines()[-1].endswith("1 files stored, 1 failed")
    here = target_json(target)["models"]
    assert here[delta["pk"]]["data"] is False and here[delta["pk"]]["name"] == "delta"
    alpha = next(m for m in here.values() if m["name"] == "alpha")
    assert alpha["data_sha256"] == sha(ALPHA)

    # Still missing: reported again, and nothing else changes.
    again = migrate(target, source.server.url)
    assert again.code == 1 and "file failed" in again.err
    assert " 0 created, 0 updated," in again.out

    # Back on the source: fetched, and only that.
    blob.write_bytes(GAMMA)
    healed = migrate(target, source.server.url)
    assert healed.code == 0, healed.err
    assert f"model {delta['pk']} 'delta': unchanged, file stored" in healed.out
    summary = healed.out.splitlines()[-1]
    assert " 0 created, 0 updated," in summary and summary.endswith("1 files stored, 0 failed")
    assert target_json(target)["models"][delta["pk"]]["data_sha256"] == sha(GAMMA)


def test_a_download_cut_half_way_is_resumed(
    start_server: Callable[..., LiveServer], batch: Batch
) -> None:
    source = Source(start_server())
    pk = source.model("large", source.framework("pytorch", "2.4"), LARGE)
    target = _initialised(batch)
    with Relay(source.server.url, cut_after=150_000) as relay:
        outcome = migrate(target, relay.url)

    assert outcome.code == 0, outcome.err
    assert target_json(target)["models"][pk]["data_sha256"] == sha(LARGE)
    assert relay.cut == 1
    (resumed,) = [r for r in relay.ranges if r != "bytes=0-"]
    start = int(resumed.removeprefix("bytes=").rstrip("-"))
    assert 0 < start < len(LARGE)


def test_a_login_that_is_no_admin_migrates_without_creators(source: Source, batch: Batch) -> None:
    source.call(
        "POST", "/users/create", {"username": "reader", "password": "reader-pw-1"}, status=201
    )
    target = _initialised(batch)

    outcome = migrate(target, source.server.url, user="reader", password="reader-pw-1")

    assert outcome.code == 0, outcome.err
    models = target_json(target)["models"].values()
    assert len(models) == 5 and {m["creator"] for m in models} == {None}


def test_a_refused_login_changes_nothing(source: Source, batch: Batch) -> None:
    target = _initialised(batch)
    before = snapshot(target)
    outcome = migrate(target, source.server.url, password="wrong")
    assert outcome.code == 1
    assert f"error: Cannot log in to {source.server.url} as 'admin':" in outcome.err
    assert "answered 401" in outcome.err
    assert snapshot(target) == before


# -- a relay that cuts a download ---------------------------------------------------------


class Relay:
    """A TCP relay in front of the source that cuts the first download's
    connection after ``cut_after`` bytes of its answer, and notes the
    ``Range`` of every download request."""

    def __init__(self, target_url: str, cut_after: int) -> None:
        host, _, port = target_url.removeprefix("http://").partition(":")
        self.target = (host, int(port))
        self.cut_after = cut_after
        self.cut = 0
        self.ranges: list[str] = []
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def __enter__(self) -> Relay:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            download = threading.Event()
            threading.Thread(
                target=self._requests, args=(client, upstream, download), daemon=True
            ).start()
            threading.Thread(
                target=self._answers, args=(upstream, client, download), daemon=True
            ).start()

    def _requests(self, client: socket.socket, upstream: socket.socket, download: Any) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if b"/download" in data:
                    wanted = [
                        line.split(b":", 1)[1].strip().decode()
                        for line in data.split(b"\r\n")
                        if line.lower().startswith(b"range:")
                    ]
                    with self.lock:
                        self.ranges += wanted or ["bytes=0-"]
                        if not self.cut:
                            self.cut += 1
                            download.set()
                upstream.sendall(data)
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    def _answers(self, upstream: socket.socket, client: socket.socket, download: Any) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if download.is_set():
                    data = data[: self.cut_after - sent]
                client.sendall(data)
                sent += len(data)
                if download.is_set() and sent >= self.cut_after:
                    break
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def test_migrate_has_help_and_wants_an_http_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as leaving:
        main(["migrate", "--help"])
    assert leaving.value.code == 0
    assert "usage: modelhub migrate" in capsys.readouterr().out
    with pytest.raises(SystemExit) as leaving:
        main(["migrate", "--from", "ufdl.example:8000", "--user", "admin"])
    assert leaving.value.code == 2
    assert "not an http(s) URL: 'ufdl.example:8000'" in capsys.readouterr().err
