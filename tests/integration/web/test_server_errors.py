"""A 500 is logged on the server and tells the client nothing internal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import webtest

from adapters.filesystem import FileBlobStore
from domain.model import BlobRef
from domain.permissions import SYSTEM
from entrypoints.web import make_app
from tests.integration.web.conftest import make_registry


class BrokenStore(FileBlobStore):
    def open(self, ref: BlobRef):  # type: ignore[override]
        raise RuntimeError(f"disk failure reading {self.root}/secret SELECT * FROM users")


def test_unexpected_errors_are_a_bare_500(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = make_registry(sqlite_url, tmp_path)
    registry.store = BrokenStore(tmp_path / "blobs")
    with registry.transaction() as services:
        services.users.create(SYSTEM, {"username": "root", "password": "pw", "is_staff": True})
        framework = services.frameworks.create(SYSTEM, {"name": "onnx", "version": "1"})
        model = services.models.create(
            SYSTEM,
            {
                "name": "m",
                "description": "",
                "url": "https://example.org",
                "framework": framework.pk,
                "domain": "ic",
                "licence": "MIT",
            },
        )
        services.models.set_file(SYSTEM, model.pk, io.BytesIO(b"weights"))
        pk = model.pk
    app = webtest.TestApp(make_app(registry))
    token = app.post_json("/v1/auth/obtain", {"username": "root", "password": "pw"}).json
    response = app.get(
        f"/v1/pretrained-models/{pk}/download",
        headers={"Authorization": f"Bearer {token['access']}"},
        status=500,
    )
    assert response.json == {"detail": "A server error occurred."}
    assert "secret" not in response.text and "SELECT" not in response.text
    assert "disk failure" in caplog.text
    registry.dispose()
