"""``modelhub fetch``: models' upstream files stored from the command line."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import pytest

from domain.permissions import SYSTEM
from tests.integration.conftest import Batch
from tests.integration.upstream_server import UpstreamServer


@pytest.fixture
def upstream() -> Iterator[UpstreamServer]:
    server = UpstreamServer()
    yield server
    server.close()


def add_models(batch: Batch, sources: dict[str, str]) -> dict[str, int]:
    registry = batch.registry()
    try:
        with registry.transaction() as services:
            framework = services.frameworks.get_or_create(SYSTEM, "pytorch", "2.4")
            pks = {}
            for name, source in sources.items():
                body = {
                    "name": name,
                    "framework": framework.pk,
                    "domain": "ic",
                    "licence": "MIT",
                    "url": "https://example.org/m",
                    "description": "",
                    "source": source,
                }
                pks[name] = services.models.create(SYSTEM, body).pk
        return pks
    finally:
        registry.dispose()


def states(batch: Batch) -> dict[str, tuple[str, str | None]]:
    rows = batch.rows("SELECT name, data_sha256, source FROM pretrained_models")
    return {name: ("local" if digest else "remote", digest) for name, digest, _ in rows}


def test_fetch_all_stores_every_upstream_file_once(batch: Batch, upstream: UpstreamServer) -> None:
    assert batch.run("initdb").code == 0
    files = {name: os.urandom(300_000) for name in ("a", "b")}
    for name, data in files.items():
        upstream.add(f"{name}.bin", data)
    add_models(batch, {name: upstream.url(f"{name}.bin") for name in files})

    outcome = batch.run("fetch", "--all")

    assert outcome.code == 0, outcome.err
    assert "2 of 2 models stored" in outcome.out
    assert states(batch) == {
        name: ("local", hashlib.sha256(data).hexdigest()) for name, data in files.items()
    }
    assert upstream.requests == {"/a.bin": 1, "/b.bin": 1}
    again = batch.run("fetch", "--all")
    assert (again.code, again.out.strip()) == (0, "0 of 0 models stored")


def test_a_source_that_fails_is_reported_and_the_others_go_on(
    batch: Batch, upstream: UpstreamServer
) -> None:
    assert batch.run("initdb").code == 0
    upstream.add("good.bin", b"good weights")
    upstream.add("bad.bin", b"", status=404)
    pks = add_models(batch, {"bad": upstream.url("bad.bin"), "good": upstream.url("good.bin")})

    outcome = batch.run("fetch", str(pks["bad"]), str(pks["good"]))

    assert outcome.code == 1
    assert f"model {pks['bad']}: error: " in outcome.err and "HTTP 404" in outcome.err
    assert "1 of 2 models stored" in outcome.out
    assert states(batch)["good"][0] == "local"
    assert batch.run("fetch", "1", "--all").code == 1  # pks or --all, not both
