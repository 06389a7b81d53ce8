"""``/v1/uploads``: the tus 1.0.0 protocol over HTTP (WebTest), its headers,
its errors and the rules of set file on the last byte."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from unittest.mock import ANY
from urllib.parse import urlparse

import pytest
import webtest

from domain.permissions import SYSTEM
from entrypoints.web.openapi import build_document
from tests.integration.web.conftest import MAX_FILE_SIZE, Api
from tests.integration.web.test_metrics import value
from tests.integration.web.test_openapi import check

TUS = {"Tus-Resumable": "1.0.0"}
PART = "application/offset+octet-stream"
DATA = bytes(range(256)) * 40  # 10 KiB
URL = "/v1/uploads"
ITEM = "/v1/uploads/{upload_id}"


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def metadata(**values: str | bytes) -> str:
    return ",".join(f"{key} {b64(value)}" for key, value in values.items())


class Tus:
    """The protocol's requests through WebTest, as an admin unless told."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.document = build_document()

    def create(
        self, pk: int, length: int = len(DATA), status: int = 201, **headers: str
    ) -> webtest.TestResponse:
        sent = {
            **TUS,
            **self.api.admin,
            "Upload-Length": str(length),
            "Upload-Metadata": metadata(model=str(pk)),
            **headers,
        }
        response = self.api.app.post(URL, headers=_clean(sent), status=status)
        check(self.document, URL, "post", response)
        return response

    def new(self, pk: int, length: int = len(DATA)) -> str:
        """A new upload's path."""
        return urlparse(self.create(pk, length).headers["Location"]).path

    def head(self, path: str, status: int = 200, **headers: str) -> webtest.TestResponse:
        sent = _clean({**TUS, **self.api.admin, **headers})
        response = self.api.app.head(path, headers=sent, status=status)
        check(self.document, ITEM, "head", response)
        return response

    def patch(
        self, path: str, offset: int, data: bytes, status: int = 204, **headers: str
    ) -> webtest.TestResponse:
        sent = _clean({**TUS, **self.api.admin, "Upload-Offset": str(offset), **headers})
        content_type = sent.pop("Content-Type", PART)
        response = self.api.app.patch(
            path, data, headers=sent, content_type=content_type, status=status
        )
        check(self.document, ITEM, "patch", response)
        return response

    def delete(self, path: str, status: int = 204, **headers: str) -> webtest.TestResponse:
        sent = _clean({**TUS, **self.api.admin, **headers})
        response = self.api.app.delete(path, headers=sent, status=status)
        check(self.document, ITEM, "delete", response)
        return response


def _clean(headers: dict[str, str]) -> dict[str, str]:
    """``Upload_Length`` is ``Upload-Length``; a header given as "" is left
    out (``Authorization=""``: anonymous)."""
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return {name: value for name, value in named.items() if value != ""}


@pytest.fixture
def tus(api: Api) -> Tus:
    return Tus(api)


def staging_files(api: Api) -> list[Path]:
    return list((api.registry.settings.blob_root / "tmp").glob("upload-*.part"))


def test_options_tells_the_capabilities_without_login(api: Api) -> None:
    response = api.app.options(URL, status=204)
    check(build_document(), URL, "options", response)
    assert response.headers["Tus-Resumable"] == response.headers["Tus-Version"] == "1.0.0"
    extensions = response.headers["Tus-Extension"].split(",")
    assert set(extensions) == {"creation", "termination", "expiration", "checksum"}
    assert response.headers["Tus-Max-Size"] == str(MAX_FILE_SIZE)
    assert response.headers["Tus-Checksum-Algorithm"] == "sha256"


def test_an_upload_in_parts_attaches_the_file(tus: Tus, api: Api) -> None:
    pk = api.model()["pk"]
    created = tus.create(pk, Upload_Metadata=metadata(model=str(pk), filename="resnet.onnx"))
    location = created.headers["Location"]
    assert re.fullmatch(r"http://localhost/v1/uploads/[0-9a-f]{32}", location)
    assert created.headers["Tus-Resumable"] == "1.0.0"
    expires = parsedate_to_datetime(created.headers["Upload-Expires"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
    path = urlparse(location).path

    head = tus.head(path)
    assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == ("0", str(len(DATA)))
    assert head.headers["Cache-Control"] == "no-store"
    assert head.headers["Upload-Expires"] == created.headers["Upload-Expires"]
    echoed = dict(pair.split(" ") for pair in head.headers["Upload-Metadata"].split(","))
    assert base64.b64decode(echoed["filename"]) == b"resnet.onnx"
    assert base64.b64decode(echoed["model"]) == str(pk).encode()

    first = tus.patch(path, 0, DATA[:4000])
    assert first.headers["Upload-Offset"] == "4000" and "Upload-Expires" in first.headers
    assert tus.head(path).headers["Upload-Offset"] == "4000"
    assert api.app.get(f"/v1/pretrained-models/{pk}", headers=api.user).json["data"] is False
    last = tus.patch(path, 4000, DATA[4000:])
    assert last.headers["Upload-Offset"] == str(len(DATA))

    model = api.app.get(f"/v1/pretrained-models/{pk}", headers=api.user).json
    assert model["data_sha256"] == hashlib.sha256(DATA).hexdigest()
    assert model["data_size"] == len(DATA)
    download = api.app.get(f"/v1/pretrained-models/{pk}/download", headers=api.user)
    assert download.body == DATA
    assert download.headers["Content-Disposition"] == 'attachment; filename="model.data"'
    tus.head(path, status=404)
    assert staging_files(api) == []


def test_a_request_not_speaking_tus_1_0_0_hears_412(tus: Tus, api: Api) -> None:
    path = tus.new(api.model()["pk"])
    for version in ("", "0.2.2"):
        refusals = [
            tus.create(1, status=412, Tus_Resumable=version),
            tus.head(path, status=412, Tus_Resumable=version),
            tus.patch(path, 0, DATA, status=412, Tus_Resumable=version),
            tus.delete(path, status=412, Tus_Resumable=version),
        ]
        for response in refusals:
            assert response.headers["Tus-Version"] == "1.0.0"
            assert response.headers["Tus-Resumable"] == "1.0.0"
    assert tus.head(path).headers["Upload-Offset"] == "0"


DIGITS = "Must be a number of bytes (digits only)."
NO_SUCH_MODEL = 'Invalid pk "99999" - object does not exist.'
CREATION_REFUSALS = [
    ({"Upload_Length": ""}, 400, {"Upload-Length": ["This header is required."]}),
    ({"Upload_Length": "-1"}, 400, {"Upload-Length": [DIGITS]}),
    ({"Upload_Length": "0"}, 400, {"detail": "The submitted file is empty."}),
    ({"Upload_Length": str(MAX_FILE_SIZE + 1)}, 413, None),
    ({"Upload_Defer_Length": "1"}, 400, {"Upload-Defer-Length": [ANY]}),
    ({"Upload_Metadata": ""}, 400, {"model": ["This field is required."]}),
    ({"Upload_Metadata": "model !!!"}, 400, {"model": ["Must be base64."]}),
    ({"Upload_Metadata": metadata(model="x1")}, 400, {"model": ["A valid integer is required."]}),
    ({"Upload_Metadata": metadata(model="99999")}, 400, {"model": [NO_SUCH_MODEL]}),
    ({"Upload_Metadata": metadata(model="1", filename=b"\xff")}, 400, {"filename": [ANY]}),
    ({"Upload_Metadata": "model MQ==,model MQ=="}, 400, {"Upload-Metadata": [ANY]}),
    ({"Authorization": ""}, 401, {"detail": "Authentication credentials were not provided."}),
]


@pytest.mark.parametrize(("headers", "status", "body"), CREATION_REFUSALS)
def test_creation_refusals_name_the_problem(
    tus: Tus, api: Api, headers: dict[str, str], status: int, body: Any
) -> None:
    pk = api.model()["pk"]
    assert pk == 1  # as the cases name it
    response = tus.create(pk, **headers, status=status)
    if body is not None:
        assert response.json == body
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert staging_files(api) == []


def test_creation_follows_set_files_rules_on_the_model(tus: Tus, api: Api) -> None:
    pk = api.model()["pk"]
    tus.create(pk, Authorization=api.user["Authorization"], status=403)
    api.app.delete(f"/v1/pretrained-models/{pk}", headers=api.admin, status=204)
    assert "deleted" in tus.create(pk, status=409).json["detail"]
    assert staging_files(api) == []


def test_part_refusals_keep_the_offset(tus: Tus, api: Api) -> None:
    path = tus.new(api.model()["pk"])
    tus.patch(path, 0, DATA[:100])

    wrong_type = tus.patch(path, 100, DATA[100:], 415, Content_Type="x/y")
    assert "A part is sent as" in wrong_type.json["detail"]
    assert "stands at offset 100" in tus.patch(path, 0, DATA, 409).json["detail"]
    assert tus.patch(path, 100, DATA[100:], 400, Upload_Offset="").json == {
        "Upload-Offset": ["This header is required."]
    }
    tus.patch(path, 100, DATA[100:] + b"one too many", 413)
    tus.patch(path, 100, DATA[100:], 401, Authorization="")
    tus.patch(path, 100, DATA[100:], 403, Authorization=api.user["Authorization"])

    assert tus.head(path).headers["Upload-Offset"] == "100"


def test_a_part_with_a_wrong_checksum_is_460_and_appends_nothing(tus: Tus, api: Api) -> None:
    path = tus.new(api.model()["pk"])
    right = "sha256 " + b64(hashlib.sha256(DATA[:500]).digest())
    wrong = "sha256 " + b64(hashlib.sha256(b"other bytes").digest())

    refused = tus.patch(path, 0, DATA[:500], 460, Upload_Checksum=wrong)
    assert refused.json == {"detail": "The body does not match its checksum; nothing was stored."}
    assert tus.head(path).headers["Upload-Offset"] == "0"
    assert (
        "Unsupported checksum algorithm 'sha1'"
        in (tus.patch(path, 0, DATA[:500], 400, Upload_Checksum="sha1 AAAA").json["detail"])
    )
    assert tus.patch(path, 0, DATA[:500], 400, Upload_Checksum="sha256 not*base64").json == {
        "Upload-Checksum": ["Must be an algorithm and a base64 digest."]
    }

    tus.patch(path, 0, DATA[:500], Upload_Checksum=right)
    assert tus.head(path).headers["Upload-Offset"] == "500"


def test_only_its_creator_sees_an_upload(tus: Tus, api: Api) -> None:
    path = tus.new(api.model()["pk"])
    with api.registry.transaction() as services:
        body = {"username": "second-admin", "password": "second-secret-1", "is_staff": True}
        services.users.create(SYSTEM, body)
    login = {"username": "second-admin", "password": "second-secret-1"}
    other = "Bearer " + api.app.post_json("/v1/auth/obtain", login).json["access"]

    for who in (other, api.user["Authorization"]):
        tus.head(path, 404, Authorization=who)
        tus.delete(path, 404, Authorization=who)
    tus.patch(path, 0, DATA, 404, Authorization=other)
    tus.head(path, 401, Authorization="")
    tus.head(f"{URL}/{'0' * 32}", 404)
    tus.head(f"{URL}/not-an-upload", 404)
    assert tus.head(path).headers["Upload-Offset"] == "0"


def test_a_terminated_upload_is_gone_with_its_bytes(tus: Tus, api: Api) -> None:
    path = tus.new(api.model()["pk"])
    tus.patch(path, 0, DATA[:100])
    assert len(staging_files(api)) == 1

    tus.delete(path)

    tus.head(path, 404)
    tus.patch(path, 100, DATA[100:], 404)
    tus.delete(path, 404)
    assert staging_files(api) == []


def test_the_last_part_refused_by_the_model_keeps_nothing(tus: Tus, api: Api) -> None:
    pk = api.model()["pk"]
    path = tus.new(pk)
    tus.patch(path, 0, DATA[:100])
    api.app.delete(f"/v1/pretrained-models/{pk}", headers=api.admin, status=204)

    refused = tus.patch(path, 100, DATA[100:], 409)

    assert "deleted" in refused.json["detail"]
    tus.head(path, 404)
    assert staging_files(api) == []
    assert not list((api.registry.settings.blob_root / "blobs").rglob("*.*"))
    api.app.delete(f"/v1/pretrained-models/{pk}/reinstate", headers=api.admin, status=200)
    assert api.app.get(f"/v1/pretrained-models/{pk}", headers=api.admin).json["data"] is False


def set_expiry(api: Api, path: str, when: datetime) -> None:
    """Move an upload's expiry behind the server's back (time passing)."""
    with api.registry.transaction() as services:
        upload = services.uow.uploads.get(path.rsplit("/", 1)[1])
        assert upload is not None
        upload.expires = when


def test_a_part_moves_the_expiry_and_an_expired_upload_is_gone(
    make_api: Callable[..., Api],
) -> None:
    api = make_api(upload_lifetime=timedelta(hours=1))
    tus = Tus(api)
    path = tus.new(api.model()["pk"])
    set_expiry(api, path, datetime.now(UTC) + timedelta(minutes=1))

    moved = tus.patch(path, 0, DATA[:10])

    expires = parsedate_to_datetime(moved.headers["Upload-Expires"])
    assert expires > datetime.now(UTC) + timedelta(minutes=59)
    assert tus.head(path).headers["Upload-Expires"] == moved.headers["Upload-Expires"]
    set_expiry(api, path, datetime.now(UTC) - timedelta(seconds=1))
    tus.head(path, 404)
    tus.patch(path, 10, DATA[10:], 404)
    tus.delete(path, 404)


def test_requests_are_counted_under_the_route_names(tus: Tus, api: Api) -> None:
    path = tus.new(api.model()["pk"])
    tus.head(path)
    tus.patch(path, 0, DATA[:100])
    tus.patch(path, 0, DATA, 409)
    tus.patch(path, 100, DATA[100:])

    text = api.app.get("/metrics", status=200).text
    total = "modelhub_http_requests_total"
    assert value(text, total, route="uploads", method="POST", status="201") == 1
    assert value(text, total, route="uploads.item", method="HEAD", status="200") == 1
    assert value(text, total, route="uploads.item", method="PATCH", status="204") == 2
    assert value(text, total, route="uploads.item", method="PATCH", status="409") == 1
    assert value(text, "modelhub_upload_bytes_received_total") == len(DATA)
