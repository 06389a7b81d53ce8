"""What the app does for the nginx deployment (deploy/): downloads sent by
nginx (``modelhub.accel_redirect``) and the upload check of its auth_request."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.web.conftest import Api, _build_api

BASE = "/v1/pretrained-models"


@pytest.fixture
def offloading(sqlite_url: str, tmp_path: Path) -> Iterator[Api]:
    api = _build_api(sqlite_url, tmp_path / "blobs", accel_redirect="/_blobs/")
    yield api
    api.registry.dispose()


def test_stored_download_is_handed_to_nginx_with_the_api_headers(offloading: Api) -> None:
    api = offloading
    data = b"0123456789" * 10
    sha = hashlib.sha256(data).hexdigest()
    model = api.model()
    api.upload(model["pk"], data)
    url = f"{BASE}/{model['pk']}/download"
    for call in (api.app.get, api.app.post):
        response = call(url, headers=api.user)
        assert response.status_int == 200 and response.body == b""
        assert response.headers["X-Accel-Redirect"] == f"/_blobs/{sha[:2]}/{sha[2:4]}/{sha}"
        assert response.headers["ETag"] == f'"{sha}"'
        assert "Accept-Ranges" not in response.headers  # nginx adds it
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Content-Disposition"] == 'attachment; filename="model.data"'
        assert "Last-Modified" in response.headers
        # nginx serves the range from the same headers.
        ranged = call(url, headers={**api.user, "Range": "bytes=10-19"})
        assert ranged.status_int == 200 and "X-Accel-Redirect" in ranged.headers
        # nginx cannot compare our ETag before its own: 304 comes from here.
        etag = response.headers["ETag"]
        call(url, headers={**api.user, "If-None-Match": etag}, status=304)
    # The file itself is where nginx's alias of <blob_root>/blobs/ finds it.
    path = api.registry.settings.blob_root / "blobs" / sha[:2] / sha[2:4] / sha
    assert path.read_bytes() == data


def test_offloaded_downloads_are_counted(offloading: Api) -> None:
    api = offloading
    model = api.model()
    api.upload(model["pk"], b"x" * 100)
    url = f"{BASE}/{model['pk']}/download"
    api.app.get(url, headers=api.user)
    api.app.get(url, headers={**api.user, "Range": "bytes=0-9"})
    api.registry.usage.close()
    stats = api.app.get("/v1/stats", headers=api.admin).json
    assert stats["downloads"] == 1 and stats["bytes_served"] == 110


def test_downloads_are_sent_by_the_app_when_off(api: Api) -> None:
    model = api.model()
    api.upload(model["pk"], b"abc")
    response = api.app.get(f"{BASE}/{model['pk']}/download", headers=api.user)
    assert response.body == b"abc" and "X-Accel-Redirect" not in response.headers


def test_upload_check_from_headers(api: Api) -> None:
    url = "/v1/auth/check-upload"
    assert api.app.get(url, headers=api.admin, status=204).body == b""
    api.app.get(url, headers=api.user, status=403)
    assert api.app.get(url, status=401).json == {
        "detail": "Authentication credentials were not provided."
    }
    api.app.get(url, headers={"Authorization": "Bearer nonsense"}, status=401)
