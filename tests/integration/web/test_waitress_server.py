"""A real waitress server on a free port, spoken to as the UFDL Python client does."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import waitress

from domain.permissions import SYSTEM
from entrypoints.web import make_app
from tests.integration.web.conftest import make_registry

MIB = 1024 * 1024
FILE_SIZE = 64 * MIB


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[str]:
    registry = make_registry(sqlite_url, tmp_path / "blobs", max_file_size=256 * MIB)
    with registry.transaction() as services:
        services.users.create(SYSTEM, {"username": "admin", "password": "pw", "is_staff": True})
    server = waitress.create_server(
        make_app(registry),
        host="127.0.0.1",
        port=0,
        threads=4,
        max_request_body_size=512 * MIB,
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(timeout=10)
        registry.dispose()


def _big_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(FILE_SIZE // MIB):
            chunk = os.urandom(MIB)
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def test_ufdl_client_round_trip(server: str, tmp_path: Path) -> None:
    session = requests.Session()
    tokens = session.post(
        f"{server}/v1/auth/obtain", json={"username": "admin", "password": "pw"}, timeout=30
    ).json()
    session.headers["Authorization"] = f"Bearer {tokens['access']}"
    api = f"{server}/v1"

    framework = session.post(
        f"{api}/frameworks/create", json={"name": "pytorch", "version": "2.4"}, timeout=30
    ).json()
    model = session.post(
        f"{api}/pretrained-models/create",
        json={
            "framework": framework["pk"],
            "domain": "ic",
            "licence": "MIT",
            "url": "https://example.org/big",
            "description": "a large model",
            "name": "big",
        },
        timeout=30,
    )
    assert model.status_code == 201, model.text
    pk = model.json()["pk"]

    listed = session.post(f"{api}/pretrained-models/list", timeout=30)
    assert [m["pk"] for m in listed.json()] == [pk]
    spec = {"expressions": [{"type": "contains", "field": "name", "sub_string": "bi"}]}
    listed = session.post(f"{api}/pretrained-models/list", json=spec, timeout=30)
    assert [m["pk"] for m in listed.json()] == [pk]

    source = tmp_path / "model.bin"
    expected = _big_file(source)
    with source.open("rb") as body:
        uploaded = session.post(
            f"{api}/pretrained-models/{pk}/data",
            data=body,
            headers={
                "Content-Type": "application/data",
                "Content-Disposition": "attachment; filename=data",
            },
            timeout=120,
        )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["data_sha256"] == expected
    assert uploaded.json()["data_size"] == FILE_SIZE

    digest, size = hashlib.sha256(), 0
    with session.post(
        f"{api}/pretrained-models/{pk}/download",
        json={"filetype": "data", "params": {}},
        stream=True,
        timeout=120,
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Length"] == str(FILE_SIZE)
        assert response.headers["ETag"] == f'"{expected}"'
        for chunk in response.iter_content(MIB):
            digest.update(chunk)
            size += len(chunk)
    assert size == FILE_SIZE and digest.hexdigest() == expected
