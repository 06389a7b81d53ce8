"""The HTTP API with the S3 blob store (moto's server, or the one named by
``MODELHUB_TEST_S3_URL``): uploads, downloads streamed or redirected to a
presigned URL, hard deletes, and the maintenance services."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from adapters.s3 import S3BlobStore
from domain.permissions import SYSTEM
from tests.integration.s3_server import S3Server
from tests.integration.web.conftest import Api, LiveServer

DATA = os.urandom(3 * 1024 * 1024 + 17)  # several chunks and a short last one


def s3_settings(server: S3Server, bucket: str, tmp_path: Path, **more: Any) -> dict[str, Any]:
    return {
        "blob_store": "s3",
        "s3_bucket": bucket,
        "s3_endpoint": server.url,
        "s3_region": server.region,
        "s3_prefix": "hub/",
        "s3_staging_dir": str(tmp_path / "staging"),
        "max_file_size": 64 * 1024 * 1024,
        **more,
    }


def objects(server: S3Server, bucket: str) -> list[str]:
    listing = server.client().list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", ())]


def key_of(data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    return f"hub/blobs/{sha[:2]}/{sha[2:4]}/{sha}"


def test_upload_download_range_and_hard_delete(
    make_api: Callable[..., Api], s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    api = make_api(**s3_settings(s3_server, s3_bucket, tmp_path))
    assert isinstance(api.registry.store, S3BlobStore)
    pk = api.model()["pk"]

    model = api.upload(pk, DATA).json

    assert model["data_sha256"] == hashlib.sha256(DATA).hexdigest()
    assert objects(s3_server, s3_bucket) == [key_of(DATA)]
    assert list((tmp_path / "staging").iterdir()) == []
    url = f"/v1/pretrained-models/{pk}/download"
    whole = api.app.post_json(url, {"filetype": "data"}, headers=api.user)
    assert whole.body == DATA
    assert whole.headers["ETag"] == f'"{model["data_sha256"]}"'
    ranged = api.app.get(url, headers={**api.user, "Range": "bytes=1000-2999999"}, status=206)
    assert ranged.body == DATA[1000:3000000]
    assert ranged.headers["Content-Range"] == f"bytes 1000-2999999/{len(DATA)}"
    etag = {"If-None-Match": whole.headers["ETag"]}
    api.app.get(url, headers={**api.user, **etag}, status=304)

    api.app.delete(f"/v1/pretrained-models/{pk}/hard", headers=api.admin, status=200)

    assert objects(s3_server, s3_bucket) == []


def test_verify_and_gc_on_s3(
    make_api: Callable[..., Api], s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    api = make_api(**s3_settings(s3_server, s3_bucket, tmp_path))
    pk = api.model()["pk"]
    api.upload(pk, DATA)
    client = s3_server.client()
    orphan = b"bytes no model points at"
    client.put_object(Bucket=s3_bucket, Key=key_of(orphan), Body=orphan)
    (tmp_path / "staging" / "upload-abcdef.part").write_bytes(b"left by a crash")

    with api.registry.transaction() as services:
        report = services.maintenance.verify(SYSTEM)
    assert report.checked >= 1 and report.missing == [] and report.corrupt == []
    assert len(report.unreferenced) == 1 and len(report.temporaries) == 1

    with api.registry.transaction() as services:
        gc = services.maintenance.collect_garbage(SYSTEM, timedelta(0))
    assert [ref.size for ref in gc.removed] == [len(orphan)]
    assert [t.name for t in gc.temporaries] == ["upload-abcdef.part"]
    assert objects(s3_server, s3_bucket) == [key_of(DATA)]
    with api.registry.transaction() as services:
        report = services.maintenance.verify(SYSTEM)
    assert report.problems == [] and report.temporaries == []
    body = api.app.get(f"/v1/pretrained-models/{pk}/download", headers=api.user).body
    assert body == DATA


@pytest.mark.parametrize("redirect", [False, True], ids=["streamed", "redirected"])
def test_the_ufdl_client_downloads_in_either_mode(
    serve: Callable[..., LiveServer],
    sqlite_url: str,
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
    redirect: bool,
) -> None:
    """As the UFDL client does: ``requests``, POST with a JSON body, following
    redirects; and a GET, a ranged GET and a conditional GET."""
    settings = s3_settings(s3_server, s3_bucket, tmp_path, s3_redirect=redirect)
    server = serve(sqlite_url, **settings)
    pk = server.model()
    assert server.upload(pk, DATA).status_code == 200
    url = server.api(f"/pretrained-models/{pk}/download")
    session = server.session

    posted = session.post(url, json={"filetype": "data"}, timeout=60)
    got = session.get(url, timeout=60)
    ranged = session.get(url, headers={"Range": "bytes=-100"}, timeout=60)

    assert (posted.status_code, posted.content) == (200, DATA)
    assert (got.status_code, got.content) == (200, DATA)
    assert (ranged.status_code, ranged.content) == (206, DATA[-100:])
    assert [r.status_code for r in posted.history] == ([303] if redirect else [])
    assert [r.status_code for r in got.history] == ([302] if redirect else [])
    if redirect:
        assert posted.url.startswith(s3_server.url)
        first = session.post(url, json={"filetype": "data"}, allow_redirects=False, timeout=60)
        assert first.headers["Cache-Control"] == "private, no-store"
        assert "X-Amz-Signature" in first.headers["Location"]
        assert requests.get(first.headers["Location"], timeout=60).content == DATA
        # Both redirects are what the OpenAPI document says.
        document = session.get(server.api("/openapi.json"), timeout=60).json()
        operations = document["paths"]["/v1/pretrained-models/{pk}/download"]
        assert "Location" in operations["post"]["responses"]["303"]["headers"]
        assert "Location" in operations["get"]["responses"]["302"]["headers"]
    sha = hashlib.sha256(DATA).hexdigest()
    cached = session.get(url, headers={"If-None-Match": f'"{sha}"'}, timeout=60)
    assert cached.status_code == 304 and cached.history == []
    # Bad requests are refused before any redirect.
    wrong = session.post(url, json={"filetype": "zip"}, allow_redirects=False, timeout=60)
    assert wrong.status_code == 415
