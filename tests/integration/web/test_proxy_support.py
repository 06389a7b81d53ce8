"""What the app does for the nginx deployment (deploy/): downloads sent by
nginx (``modelhub.accel_redirect``) and the upload check of its auth_request."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints.web.uploads import BODY_FILE_HEADER
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


@pytest.fixture
def behind_nginx(sqlite_url: str, tmp_path: Path) -> Iterator[Api]:
    """The app as deploy/run-local runs it: upload bodies come as files."""
    body_dir = tmp_path / "incoming"
    body_dir.mkdir()
    api = _build_api(sqlite_url, tmp_path / "blobs", proxy_body_dir=str(body_dir))
    yield api
    api.registry.dispose()


def _body_file(api: Api, name: str, data: bytes) -> str:
    path = Path(api.registry.settings.proxy_body_dir) / name
    path.write_bytes(data)
    return str(path)


def test_an_upload_body_is_taken_from_the_file_nginx_names(behind_nginx: Api) -> None:
    api = behind_nginx
    data = b"weights" * 1000
    pk = api.model()["pk"]
    received = _bytes_received(api)
    path = _body_file(api, "0000000001", data)
    headers = {**api.admin, "Content-Type": "application/data", BODY_FILE_HEADER: path}
    body = api.app.post(f"{BASE}/{pk}/data", b"", headers=headers).json
    assert body["data_sha256"] == hashlib.sha256(data).hexdigest()
    assert body["data_size"] == len(data)
    # A multipart body in the file is parsed from it.
    boundary = "b0undary"
    framed = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="m.pt"\r\n\r\n'
        ).encode()
        + data[::-1]
        + f"\r\n--{boundary}--\r\n".encode()
    )
    path = _body_file(api, "0000000002", framed)
    headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    headers[BODY_FILE_HEADER] = path
    body = api.app.post(f"{BASE}/{pk}/data", b"", headers=headers).json
    assert body["data_sha256"] == hashlib.sha256(data[::-1]).hexdigest()
    assert _bytes_received(api) - received == len(data) + len(framed)


def _bytes_received(api: Api) -> float:
    metrics = api.app.get("/metrics").text
    return float(re.search(r"^modelhub_upload_bytes_received_total (\S+)$", metrics, re.M)[1])


def test_a_body_file_over_the_limit_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    body_dir = tmp_path / "incoming"
    body_dir.mkdir()
    api = _build_api(
        sqlite_url, tmp_path / "blobs", proxy_body_dir=str(body_dir), max_file_size=100
    )
    try:
        pk = api.model()["pk"]
        path = _body_file(api, "0000000003", b"x" * 101)
        headers = {**api.admin, "Content-Type": "application/data", BODY_FILE_HEADER: path}
        api.app.post(f"{BASE}/{pk}/data", b"", headers=headers, status=413)
    finally:
        api.registry.dispose()


def test_a_body_file_outside_the_folder_is_an_error(behind_nginx: Api, tmp_path: Path) -> None:
    api = behind_nginx
    pk = api.model()["pk"]
    elsewhere = tmp_path / "0000000004"
    elsewhere.write_bytes(b"secret")
    for name in (str(elsewhere), _body_file(api, "../0000000005", b"x"), "/etc/passwd"):
        headers = {**api.admin, "Content-Type": "application/data", BODY_FILE_HEADER: name}
        api.app.post(f"{BASE}/{pk}/data", b"abc", headers=headers, status=500)
    assert api.app.get(f"{BASE}/{pk}", headers=api.admin).json["data_size"] is None


def test_the_body_file_header_means_nothing_when_the_setting_is_off(api: Api) -> None:
    pk = api.model()["pk"]
    headers = {**api.admin, "Content-Type": "application/data", BODY_FILE_HEADER: "/etc/passwd"}
    body = api.app.post(f"{BASE}/{pk}/data", b"abc", headers=headers).json
    assert body["data_sha256"] == hashlib.sha256(b"abc").hexdigest()
