"""``GET /healthz``: 200 when the database and the blob store answer, else 503
with what failed, within a few seconds, without login."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import webtest

from adapters.health import HealthCheck
from entrypoints.web import make_app
from tests.integration.web.conftest import Api, make_registry


def health(api: Api, status: int) -> dict:
    response = api.app.get("/healthz", status=status)
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    return response.json


@pytest.fixture
def healthy(any_api: Api) -> Api:
    any_api.registry.settings.blob_root.mkdir(parents=True, exist_ok=True)
    return any_api


def test_healthy_answers_200_without_login(healthy: Api) -> None:
    assert health(healthy, 200) == {"status": "ok", "database": "ok", "store": "ok"}
    healthy.app.get("/healthz/", status=200)
    healthy.app.head("/healthz", status=200)
    # Nothing is left behind by the store's check.
    assert list(healthy.registry.settings.blob_root.iterdir()) == []


def test_the_main_factory_makes_the_blob_folder(tmp_path: Path, sqlite_url: str) -> None:
    from entrypoints.web import main

    blobs = tmp_path / "new" / "blobs"
    app = main(
        {},
        **{
            "sqlalchemy.url": sqlite_url,
            "modelhub.blob_root": str(blobs),
            "modelhub.jwt_key": "a-test-signing-key-that-is-long-enough-0123456789",
        },
    )
    assert blobs.is_dir()
    assert webtest.TestApp(app).get("/healthz").json["status"] == "ok"


def test_a_blob_folder_gone_answers_503(healthy: Api) -> None:
    shutil.rmtree(healthy.registry.settings.blob_root)
    assert health(healthy, 503) == {
        "status": "unavailable",
        "database": "ok",
        "store": "the blob folder does not exist",
    }
    # The check never makes it again (a volume not mounted stays visible).
    assert not healthy.registry.settings.blob_root.exists()


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder no one may write in: a read-only tmpfs for root, else a mode."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs: {done.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_an_unwritable_blob_folder_answers_503(sqlite_url: str, read_only_folder: Path) -> None:
    registry = make_registry(sqlite_url, read_only_folder)
    try:
        body = webtest.TestApp(make_app(registry)).get("/healthz", status=503).json
        assert body["status"] == "unavailable" and body["database"] == "ok"
        assert body["store"].startswith("the blob folder is not writable (E")
    finally:
        registry.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_database_answers_503(tmp_path: Path) -> None:
    """Nothing listens at the database's address (no PostgreSQL needed)."""
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/modelhub"
    (tmp_path / "blobs").mkdir()
    registry = make_registry(url, tmp_path / "blobs")
    try:
        body = webtest.TestApp(make_app(registry)).get("/healthz", status=503).json
        assert body == {"status": "unavailable", "database": "failed (Unavailable)", "store": "ok"}
    finally:
        registry.dispose()


def test_a_database_that_never_answers_fails_the_check_in_time(tmp_path: Path) -> None:
    """A server that accepts connections and says nothing: the check gives
    up after its timeout, and a probe while it still waits fails at once."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    url = f"postgresql+psycopg://nobody@127.0.0.1:{listener.getsockname()[1]}/modelhub"
    (tmp_path / "blobs").mkdir()
    registry = make_registry(url, tmp_path / "blobs")
    registry.health.close()
    registry.health = HealthCheck(registry.engine, registry.store, timeout=0.5)
    app = webtest.TestApp(make_app(registry))
    try:
        started = time.monotonic()
        body = app.get("/healthz", status=503).json
        assert body["database"] == "did not answer within 0.5 seconds"
        assert body["store"] == "ok"
        body = app.get("/healthz", status=503).json
        assert body["database"] == "did not answer the previous check yet"
        assert time.monotonic() - started < 3
    finally:
        listener.close()
        registry.dispose()
