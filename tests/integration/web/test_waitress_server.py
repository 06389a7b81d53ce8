"""A real waitress server on a free port, spoken to as the UFDL Python client does."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from tests.integration.web.conftest import LiveServer

MIB = 1024 * 1024
FILE_SIZE = 64 * MIB


def _big_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(FILE_SIZE // MIB):
            chunk = os.urandom(MIB)
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def test_ufdl_client_round_trip(start_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    server = start_server()
    session = server.session
    framework = session.post(
        server.api("/frameworks/create"), json={"name": "pytorch", "version": "2.4"}, timeout=30
    ).json()
    model = session.post(
        server.api("/pretrained-models/create"),
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

    listed = session.post(server.api("/pretrained-models/list"), timeout=30)
    assert [m["pk"] for m in listed.json()] == [pk]
    spec = {"expressions": [{"type": "contains", "field": "name", "sub_string": "bi"}]}
    listed = session.post(server.api("/pretrained-models/list"), json=spec, timeout=30)
    assert [m["pk"] for m in listed.json()] == [pk]

    source = tmp_path / "model.bin"
    expected = _big_file(source)
    with source.open("rb") as body:
        uploaded = server.upload(pk, body)
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["data_sha256"] == expected
    assert uploaded.json()["data_size"] == FILE_SIZE

    digest, size = hashlib.sha256(), 0
    with session.post(
        server.api(f"/pretrained-models/{pk}/download"),
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
