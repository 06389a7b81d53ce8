"""The pretrained-models API through WebTest: the rules of API.md and the
shapes of every error, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from tests.integration.web.conftest import MAX_FILE_SIZE, Api

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
BASE = "/v1/pretrained-models"


def test_create_returns_every_field(any_api: Api) -> None:
    model = any_api.model(metadata="epochs=90")
    assert set(model) == {
        "pk", "framework", "domain", "licence", "data", "creator", "creation_time",
        "deletion_time", "url", "description", "name", "metadata", "data_size", "data_sha256",
        "source", "source_sha256", "data_state",
    }  # fmt: skip
    assert model["framework"]["name"] == "pytorch"
    assert model["domain"] == "Image Classification"
    assert model["licence"] == "MIT"
    assert model["data"] is False and model["data_size"] is None
    admin_pk = any_api.app.get(BASE + f"/{model['pk']}", headers=any_api.admin).json["creator"]
    assert isinstance(admin_pk, int) and model["creator"] == admin_pk
    assert TIMESTAMP.match(model["creation_time"])
    assert model["deletion_time"] is None
    assert model["metadata"] == "epochs=90"


def test_read_only_and_unknown_fields_are_ignored(api: Api) -> None:
    model = api.model(pk=999, creator=42, data=True, deletion_time="2020-01-01", colour="red")
    assert model["pk"] != 999 and model["data"] is False and model["deletion_time"] is None


def test_validation_errors_name_their_fields(api: Api) -> None:
    response = api.app.post_json(BASE + "/create", {}, headers=api.admin, status=400)
    for field in ("name", "description", "url", "framework", "domain", "licence"):
        assert response.json[field] == ["This field is required."]
    body = {
        "name": "x" * 201,
        "description": "d",
        "url": "ftp://example.org/x",
        "framework": 9999,
        "domain": "nope",
        "licence": "nope",
    }
    errors = api.app.post_json(BASE + "/create", body, headers=api.admin, status=400).json
    assert errors["name"] == ["Ensure this field has no more than 200 characters."]
    assert errors["url"] == ["Enter a valid URL."]
    assert errors["framework"] == ['Invalid pk "9999" - object does not exist.']
    assert errors["domain"] == ["Object with name=nope does not exist."]
    assert errors["licence"] == ["Object with name=nope does not exist."]
    wrong_types = {"name": 5, "framework": "one", "url": None}
    errors = api.app.post_json(BASE + "/create", wrong_types, headers=api.admin, status=400).json
    # Every problem at once, as the UFDL server reports them.
    assert errors == {
        "name": ["Not a valid string."],
        "framework": ["A valid integer is required."],
        "url": ["This field may not be null."],
        "description": ["This field is required."],
        "domain": ["This field is required."],
        "licence": ["This field is required."],
    }


def test_licence_may_be_given_by_its_spdx_identifier(any_api: Api) -> None:
    """The registry has UFDL's "Apache 2.0"; "Apache-2.0" names it, and the
    API shows the licence's real name."""
    model = any_api.model(licence="Apache-2.0")
    assert model["licence"] == "Apache 2.0"
    url = BASE + f"/{model['pk']}"
    patched = any_api.app.patch_json(url, {"licence": "GPL-3.0"}, headers=any_api.admin).json
    assert patched["licence"] == "GPL3"
    patched = any_api.app.patch_json(url, {"licence": "Apache-2.0"}, headers=any_api.admin).json
    assert patched["licence"] == "Apache 2.0"
    assert any_api.app.get(url, headers=any_api.user).json == patched
    full = {key: patched[key] for key in ("name", "description", "url", "domain")}
    full.update(domain="ic", framework=patched["framework"]["pk"], licence="MPL-2.0")
    updated = any_api.app.put_json(url, full, headers=any_api.admin).json
    assert updated["licence"] == "Mozilla Public License 2.0"
    for unknown in ("Apache-3.0", "apache-2.0"):
        errors = any_api.app.patch_json(
            url, {"licence": unknown}, headers=any_api.admin, status=400
        ).json
        assert errors == {"licence": [f"Object with name={unknown} does not exist."]}
    assert (
        any_api.app.get(url, headers=any_api.user).json["licence"] == "Mozilla Public License 2.0"
    )


def test_malformed_json_is_400(api: Api) -> None:
    response = api.app.post(
        BASE + "/create",
        "{not json",
        headers={**api.admin, "Content-Type": "application/json"},
        status=400,
    )
    assert response.json["detail"].startswith("JSON parse error")
    response = api.app.post_json(BASE + "/create", [1, 2], headers=api.admin, status=400)
    assert "detail" in response.json


def test_update_and_partial_update(any_api: Api) -> None:
    model = any_api.model()
    url = BASE + f"/{model['pk']}"
    any_api.app.put_json(url, {"name": "only-name"}, headers=any_api.admin, status=400)
    other = any_api.framework("tensorflow", "2.15")
    full = {
        "name": "resnet101",
        "description": "bigger",
        "url": "http://example.org/r101",
        "framework": other["pk"],
        "domain": "od",
        "licence": "Apache-2.0",
    }
    updated = any_api.app.put_json(url, full, headers=any_api.admin).json
    assert updated["framework"] == other and updated["domain"] == "Object Detection"
    patched = any_api.app.patch_json(url, {"description": "tuned"}, headers=any_api.admin).json
    assert patched["description"] == "tuned" and patched["name"] == "resnet101"
    assert any_api.app.get(url, headers=any_api.user).json == patched


def test_soft_delete_reinstate_and_read_only(any_api: Api) -> None:
    model = any_api.model()
    url = BASE + f"/{model['pk']}"
    any_api.upload(model["pk"], b"weights")
    response = any_api.app.delete(url, headers=any_api.admin, status=204)
    assert response.body == b""
    deleted = any_api.app.get(url, headers=any_api.user).json
    assert TIMESTAMP.match(deleted["deletion_time"])
    any_api.app.delete(url, headers=any_api.admin, status=204)
    again = any_api.app.get(url, headers=any_api.user).json
    assert again["deletion_time"] == deleted["deletion_time"]

    listed = any_api.app.post(BASE + "/list", headers=any_api.user).json
    assert model["pk"] not in [m["pk"] for m in listed]
    listed = any_api.app.post_json(
        BASE + "/list", {"include_inactive": True}, headers=any_api.user
    ).json
    assert model["pk"] in [m["pk"] for m in listed]

    for response in (
        any_api.app.patch_json(url, {"name": "x"}, headers=any_api.admin, status=409),
        any_api.app.put_json(url, {"name": "x"}, headers=any_api.admin, status=409),
        any_api.upload(model["pk"], b"other", status=409),
        any_api.app.delete(url + "/data", headers=any_api.admin, status=409),
    ):
        assert "reinstate" in response.json["detail"]
    any_api.app.post_json(url + "/download", {}, headers=any_api.user, status=410)
    any_api.app.get(url + "/download", headers=any_api.user, status=410)

    reinstated = any_api.app.delete(url + "/reinstate", headers=any_api.admin).json
    assert reinstated["deletion_time"] is None and reinstated["data"] is True
    again = any_api.app.delete(url + "/reinstate", headers=any_api.admin).json
    assert again == reinstated
    assert any_api.app.get(url + "/download", headers=any_api.user).body == b"weights"


def test_file_upload_download_and_delete(any_api: Api) -> None:
    model = any_api.model()
    url = BASE + f"/{model['pk']}"
    any_api.app.post_json(url + "/download", {}, headers=any_api.user, status=404)
    data = bytes(range(256)) * 1000
    attached = any_api.upload(model["pk"], data).json
    digest = hashlib.sha256(data).hexdigest()
    assert attached["data"] is True
    assert attached["data_size"] == len(data) and attached["data_sha256"] == digest

    response = any_api.app.post_json(
        url + "/download", {"filetype": "data", "params": {"a": "b", "c": ["d"]}},
        headers=any_api.user,
    )  # fmt: skip
    assert response.body == data
    assert response.content_type == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="model.data"'
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["ETag"] == f'"{digest}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert "Last-Modified" in response.headers

    any_api.app.post_json(url + "/download", {"filetype": "json"}, headers=any_api.user, status=415)
    bad = any_api.app.post_json(
        url + "/download", {"params": {"a": 1}}, headers=any_api.user, status=400
    )
    assert "params" in bad.json

    detached = any_api.app.delete(url + "/data", headers=any_api.admin).json
    assert detached["data"] is False and detached["data_sha256"] is None
    assert any_api.app.delete(url + "/data", headers=any_api.admin).json == detached
    any_api.app.get(url + "/download", headers=any_api.user, status=404)


def test_upload_rules(api: Api, tmp_path) -> None:
    model = api.model()
    response = api.upload(model["pk"], b"", status=400)
    assert response.json == {"detail": "The submitted file is empty."}
    api.upload(model["pk"], b"x" * (MAX_FILE_SIZE + 1), status=413)
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []
    listed = api.app.get(BASE + f"/{model['pk']}", headers=api.user).json
    assert listed["data"] is False

    # Any content type is accepted, and a multipart body with one file part.
    api.app.post(
        BASE + f"/{model['pk']}/data",
        b"\x00raw",
        headers={**api.admin, "Content-Type": "image/png"},
    )
    assert api.app.get(BASE + f"/{model['pk']}/download", headers=api.user).body == b"\x00raw"
    api.app.post(
        BASE + f"/{model['pk']}/data",
        {"note": "ignored"},
        upload_files=[("file", "model.bin", b"multipart bytes")],
        headers=api.admin,
    )
    body = api.app.get(BASE + f"/{model['pk']}/download", headers=api.user).body
    assert body == b"multipart bytes"
    api.app.post(
        BASE + f"/{model['pk']}/data",
        upload_files=[("a", "a.bin", b"a"), ("b", "b.bin", b"b")],
        headers=api.admin,
        status=400,
    )


def test_identical_bytes_are_stored_once(any_api: Api, tmp_path) -> None:
    first = any_api.model()
    second = any_api.model(name="copy", framework=first["framework"]["pk"])
    any_api.upload(first["pk"], b"same weights")
    any_api.upload(second["pk"], b"same weights")
    blobs = [p for p in (tmp_path / "blobs" / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1

    any_api.app.delete(BASE + f"/{first['pk']}/hard", headers=any_api.admin)
    assert blobs[0].exists()
    response = any_api.app.get(BASE + f"/{second['pk']}/download", headers=any_api.user)
    assert response.body == b"same weights"
    gone = any_api.app.delete(BASE + f"/{second['pk']}/hard", headers=any_api.admin).json
    assert gone["pk"] == second["pk"] and gone["data"] is True
    assert not blobs[0].exists()
    any_api.app.get(BASE + f"/{second['pk']}", headers=any_api.user, status=404)


def test_replacing_a_file_releases_the_old_one(api: Api, tmp_path) -> None:
    model = api.model()
    api.upload(model["pk"], b"version one")
    api.upload(model["pk"], b"version two")
    blobs = [p for p in (tmp_path / "blobs" / "blobs").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in blobs] == [b"version two"]


def test_conditional_and_ranged_downloads(api: Api) -> None:
    model = api.model()
    data = b"0123456789" * 10
    api.upload(model["pk"], data)
    url = BASE + f"/{model['pk']}/download"
    etag = api.app.get(url, headers=api.user).headers["ETag"]
    for method in ("get", "post"):
        call = getattr(api.app, method)
        call(url, headers={**api.user, "If-None-Match": etag}, status=304)
        part = call(url, headers={**api.user, "Range": "bytes=10-19"}, status=206)
        assert part.body == data[10:20]
        assert part.headers["Content-Range"] == "bytes 10-19/100"
        call(url, headers={**api.user, "Range": "bytes=500-"}, status=416)
        stale = call(url, headers={**api.user, "Range": "bytes=0-1", "If-Range": '"stale"'})
        assert stale.status_int == 200 and stale.body == data


def test_not_found_shapes(api: Api) -> None:
    for path in (BASE + "/abc", BASE + "/999999", BASE + "/99999999999999999999999", "/v1/nope"):
        response = api.app.get(path, headers=api.user, status=404)
        assert response.json == {"detail": "Not found."}
    api.app.delete(BASE + "/424242/hard", headers=api.admin, status=404)


def test_wrong_method_is_405_with_allow(api: Api) -> None:
    response = api.app.get(BASE + "/list", headers=api.user, status=405)
    assert response.headers["Allow"] == "POST"
    assert "detail" in response.json
    response = api.app.post(BASE + "/1", headers=api.user, status=405)
    assert set(response.headers["Allow"].split(", ")) == {"DELETE", "GET", "HEAD", "PATCH", "PUT"}


def test_trailing_slash_is_optional(api: Api) -> None:
    model = api.model()
    assert api.app.post(BASE + "/list/", headers=api.user).json[0]["pk"] == model["pk"]
    assert api.app.get(BASE + f"/{model['pk']}/", headers=api.user).json == model


def test_listing_and_retrieving_read_outside_a_transaction(
    any_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The views that only read run on a read-only unit of work (no BEGIN or
    COMMIT, and a write would fail), the others on a transaction."""
    api = any_api
    pk = api.model()["pk"]
    framework = api.framework("onnx", "1.16")["pk"]
    kinds: list[bool] = []
    unit_of_work = api.registry.unit_of_work

    def recorded(manager: Any, *, read_only: bool = False) -> Any:
        kinds.append(read_only)
        return unit_of_work(manager, read_only=read_only)

    monkeypatch.setattr(api.registry, "unit_of_work", recorded)
    reads = [
        lambda: api.app.get(f"{BASE}/{pk}", headers=api.user),
        lambda: api.app.post_json(f"{BASE}/list", {}, headers=api.user),
        lambda: api.app.get(f"/v1/frameworks/{framework}", headers=api.user),
        lambda: api.app.post_json("/v1/licences/list", {}, headers=api.user),
        lambda: api.app.post_json("/v1/users/list", {}, headers=api.admin),
    ]
    for read in reads:
        assert read().status_int == 200
    assert kinds == [True] * len(reads)
    kinds.clear()
    api.app.patch_json(f"{BASE}/{pk}", {"description": "new"}, headers=api.admin)
    assert kinds == [False]
    assert api.app.get(f"{BASE}/{pk}", headers=api.user).json["description"] == "new"
