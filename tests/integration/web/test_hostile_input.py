"""Inputs an attacker (or a broken client) sends answer 4xx, never 500, on
SQLite and PostgreSQL alike: the filter language's caps, text no database
keeps, keys beyond the integer columns, odd ``Range`` and conditional
headers, paths that are not keys."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import pytest

from domain import filters as f
from domain.model import INT_MAX
from domain.resources import PRETRAINED_MODEL
from tests.integration.web.conftest import Api

BASE = "/v1/pretrained-models"
LIST = f"{BASE}/list"
LEAF = {"type": "exact", "field": "name", "value": "x"}


def listed(api: Api, spec: Any, status: int = 400) -> Any:
    return api.app.post_json(LIST, spec, headers=api.user, status=status)


def nested(depth: int) -> str:
    """A filter spec, as JSON text, of ``depth`` ``or`` each in the previous one
    (written out by hand: the json module itself cannot nest that deep)."""
    opening = '{"type": "or", "sub_expressions": ['
    return '{"expressions": [' + opening * depth + json.dumps(LEAF) + "]}" * depth + "]}"


# -- the filter language ---------------------------------------------------------------


def test_deep_nesting_is_a_400_naming_the_limit(any_api: Api) -> None:
    headers = {**any_api.user, "Content-Type": "application/json"}
    assert any_api.app.post(LIST, nested(f.MAX_DEPTH), headers=headers).json == []
    for depth in (f.MAX_DEPTH + 1, 200):
        response = any_api.app.post(LIST, nested(depth), headers=headers, status=400)
        assert f"at most {f.MAX_DEPTH} deep" in response.json["detail"]
    # Deeper than the JSON parser goes: refused as JSON.
    for depth in (490, 5000):
        response = any_api.app.post(LIST, nested(depth), headers=headers, status=400)
        assert "nested too deeply" in response.json["detail"]


def test_json_nested_beyond_the_parser_is_a_400(any_api: Api) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = any_api.app.post(LIST, body, headers=any_api.user, status=400)
    assert "nested too deeply" in response.json["detail"]


@pytest.mark.parametrize(
    "spec",
    [
        {"expressions": [{"type": "or", "sub_expressions": [LEAF] * 15_000}]},
        {"expressions": [LEAF] * 12_000},
        {"order_by": [{"field": "name"}] * 20_000},
        {"expressions": [{"type": "contains", "field": "description", "sub_string": "x" * 10**6}]},
    ],
    ids=["or of 15000", "12000 expressions", "20000 orderings", "contains of 1 MB"],
)
def test_huge_filters_are_a_400_on_every_database(any_api: Api, spec: dict[str, Any]) -> None:
    assert "at most" in listed(any_api, spec).json["detail"]


def test_filters_at_their_caps_run_on_every_database(any_api: Api) -> None:
    any_api.model(name="x", description="y" * f.MAX_TEXT)
    wide = {"type": "or", "sub_expressions": [LEAF] * (f.MAX_EXPRESSIONS - 1)}
    long_text = {"type": "contains", "field": "description", "sub_string": "y" * f.MAX_TEXT}
    spec = {
        "expressions": [wide],
        "order_by": [{"field": name} for name in list(PRETRAINED_MODEL.filters)[:12]] * 1,
    }
    assert [m["name"] for m in listed(any_api, spec, 200).json] == ["x"]
    assert len(listed(any_api, {"expressions": [long_text]}, 200).json) == 1


# -- text that no database keeps ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\x00b", "Null characters are not allowed."),
        ("a\ud800b", "Surrogate characters are not allowed: U+D800."),
    ],
    ids=["NUL", "lone surrogate"],
)
def test_text_no_database_keeps_is_a_400(any_api: Api, text: str, message: str) -> None:
    created = any_api.app.post_json(
        f"{BASE}/create",
        {"name": text, "description": "", "url": "https://example.org", "domain": "ic",
         "licence": "MIT", "framework": any_api.framework()["pk"]},
        headers=any_api.admin,
        status=400,
    )  # fmt: skip
    assert created.json == {"name": [message]}
    spec = {"expressions": [{"type": "contains", "field": "name", "sub_string": text}]}
    assert message in listed(any_api, spec).json["detail"]
    spec = {"expressions": [{"type": "exact", "field": "licence.name", "value": text}]}
    assert message in listed(any_api, spec).json["detail"]
    for credentials in (
        {"username": text, "password": "x"},
        {"username": "alice", "password": text},
    ):
        login = any_api.app.post_json("/v1/auth/obtain", credentials, status=400)
        assert list(login.json.values()) == [[message]]
    for route in ("/v1/auth/refresh", "/v1/auth/verify"):
        key = "refresh" if route.endswith("refresh") else "token"
        any_api.app.post_json(route, {key: text}, status=401)


def test_a_username_with_nul_in_the_path_is_not_found(any_api: Api) -> None:
    any_api.app.get("/v1/users/ali%00ce", headers=any_api.admin, status=404)


# -- keys beyond the integer columns -----------------------------------------------------


def test_keys_beyond_32_bits_are_404_in_paths_and_400_elsewhere(any_api: Api) -> None:
    for pk in (INT_MAX + 1, 2**63 - 1, 10**30):
        any_api.app.get(f"{BASE}/{pk}", headers=any_api.user, status=404)
        any_api.app.delete(f"{BASE}/{pk}/hard", headers=any_api.admin, status=404)
    spec = {"expressions": [{"type": "compare", "field": "pk", "operator": ">", "value": 2**40}]}
    assert "'pk'" in listed(any_api, spec).json["detail"]
    spec = {"expressions": [{"type": "exact", "field": "framework", "value": INT_MAX}]}
    assert listed(any_api, spec, 200).json == []
    body = {"name": "m", "description": "", "url": "https://example.org", "domain": "ic",
            "licence": "MIT", "framework": 2**40}  # fmt: skip
    created = any_api.app.post_json(f"{BASE}/create", body, headers=any_api.admin, status=400)
    assert created.json == {"framework": [f"Ensure this value is less than or equal to {INT_MAX}."]}
    body["framework"] = INT_MAX
    created = any_api.app.post_json(f"{BASE}/create", body, headers=any_api.admin, status=400)
    assert list(created.json) == ["framework"]


def test_keys_with_leading_zeros_are_not_found(any_api: Api) -> None:
    pk = any_api.model()["pk"]
    any_api.app.get(f"{BASE}/{pk}", headers=any_api.user, status=200)
    for path in (f"{BASE}/0{pk}", f"{BASE}/00{pk}/download", f"{BASE}/0", "/v1/frameworks/01"):
        assert any_api.app.get(path, headers=any_api.admin, status=404).json == {
            "detail": "Not found."
        }


def test_paths_that_are_not_utf8_are_not_found(any_api: Api) -> None:
    for path in ("/v1/%ff", "/v1/users/%ff%fe", f"{BASE}/%c0"):
        assert any_api.app.get(path, headers=any_api.user, status=404).json == {
            "detail": "Not found."
        }


# -- ranges and conditions ---------------------------------------------------------------


@pytest.fixture
def stored(any_api: Api) -> tuple[int, bytes]:
    pk = any_api.model()["pk"]
    data = bytes(range(256)) * 4
    any_api.upload(pk, data)
    return pk, data


def download(api: Api, pk: int, status: int, **headers: str) -> Any:
    return api.app.get(f"{BASE}/{pk}/download", headers={**api.user, **headers}, status=status)


def test_odd_ranges(any_api: Api, stored: tuple[int, bytes]) -> None:
    pk, data = stored
    size = len(data)
    for header in ("bytes=-0", f"bytes={size}-", "bytes=" + "9" * 5000 + "-"):
        response = download(any_api, pk, 416, Range=header)
        assert response.headers["Content-Range"] == f"bytes */{size}"
        assert set(response.json) == {"detail"}
    # Several ranges, or ones this server does not understand: the whole file.
    for header in ("bytes=0-1,2-3", "bytes=5-2", "items=0-1", "bytes=-", "bytes=x-y"):
        assert download(any_api, pk, 200, Range=header).body == data
    tail = download(any_api, pk, 206, Range="bytes=-" + "9" * 5000)
    assert tail.body == data and tail.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"
    head = download(any_api, pk, 206, Range="bytes=0-" + "9" * 5000)
    assert head.body == data


def test_if_none_match_star_matches_any_file(any_api: Api, stored: tuple[int, bytes]) -> None:
    pk, data = stored
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    assert download(any_api, pk, 304, **{"If-None-Match": "*"}).body == b""
    download(any_api, pk, 304, **{"If-None-Match": f'"other", {etag}'})
    assert download(any_api, pk, 200, **{"If-None-Match": '"other"'}).body == data
    framework = any_api.app.get(f"{BASE}/{pk}", headers=any_api.user).json["framework"]
    bare = any_api.model(name="no-file", framework=framework["pk"])["pk"]
    download(any_api, bare, 404, **{"If-None-Match": "*"})


# -- what a failure writes to the log ----------------------------------------------------


def test_a_failed_request_logs_a_bounded_record(
    api: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    pk = api.model()["pk"]
    huge = "SELECT " + "x" * 900_000

    def broken(*args: object, **kw: object) -> None:
        raise RuntimeError(huge)

    monkeypatch.setattr(api.registry.store, "open", broken)
    api.upload(pk, b"weights")
    with caplog.at_level(logging.ERROR):
        response = download(api, pk, 500)
    assert response.json == {"detail": "A server error occurred."}
    (record,) = [r for r in caplog.records if "unhandled error" in r.getMessage()]
    text = record.getMessage()
    assert "RuntimeError" in text and "Traceback" in text
    assert len(text) < 20_000
    assert json.dumps(response.json).find("SELECT") == -1
