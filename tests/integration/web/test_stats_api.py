"""``GET /v1/stats``: admins only; what each kind of download response counts
(through WebTest, whose bodies are iterated, and a real waitress server,
which sends them as a file wrapper from its I/O thread); figures that
outlive a hard delete; the ``top`` parameter; responses that match the
OpenAPI document."""

from __future__ import annotations

import http.client
import io
import logging
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from entrypoints.web.downloads import MeteredFile
from entrypoints.web.openapi import build_document
from tests.integration.web.conftest import Api, LiveServer
from tests.integration.web.test_openapi import check

MIB = 1024 * 1024
DATA = bytes(range(100))
DOCUMENT = build_document()


def stats(api: Api, **params: Any) -> dict[str, Any]:
    response = api.app.get("/v1/stats", params, headers=api.admin, status=200)
    check(DOCUMENT, "/v1/stats", "get", response)
    return response.json


def model_with_file(api: Api, data: bytes = DATA, **fields: Any) -> int:
    pk = api.model(**fields)["pk"]
    api.upload(pk, data, status=200)
    return pk


def test_admins_only(api: Api) -> None:
    for headers, status in (({}, 401), (api.user, 403)):
        response = api.app.get("/v1/stats", headers=headers, status=status)
        check(DOCUMENT, "/v1/stats", "get", response)
    assert "WWW-Authenticate" in api.app.get("/v1/stats", status=401).headers
    # The permission comes first, the parameter's check after.
    api.app.get("/v1/stats?top=x", headers=api.user, status=403)


def test_nothing_served_yet(api: Api) -> None:
    assert stats(api) == {
        "downloads": 0,
        "bytes_served": 0,
        "bytes_fetched": 0,
        "ratio": None,
        "models": [],
    }


def test_what_each_response_counts(any_api: Api) -> None:
    api = any_api
    pk = model_with_file(api)
    url = f"/v1/pretrained-models/{pk}/download"

    def figures() -> tuple[int, int]:
        body = stats(api)
        return body["downloads"], body["bytes_served"]

    etag = api.app.get(url, headers=api.user, status=200).headers["ETag"]
    assert figures() == (1, 100)  # a whole file
    api.app.post_json(url, {"filetype": "data"}, headers=api.user, status=200)
    assert figures() == (2, 200)  # the UFDL client's POST too
    api.app.get(url, headers={**api.user, "Range": "bytes=10-19"}, status=206)
    assert figures() == (2, 210)  # a range inside the file: its bytes only
    api.app.get(url, headers={**api.user, "Range": "bytes=90-"}, status=206)
    assert figures() == (3, 220)  # a resumed download, to the last byte
    api.app.get(url, headers={**api.user, "If-None-Match": etag}, status=304)
    api.app.get(url, headers={**api.user, "Range": "bytes=500-"}, status=416)
    api.app.head(url, headers=api.user, status=200)
    api.app.get(f"/v1/pretrained-models/{pk + 1}/download", headers=api.user, status=404)
    assert figures() == (3, 220)  # nothing sent, nothing counted

    assert stats(api)["models"] == [
        {"pk": pk, "name": "resnet50", "downloads": 3, "bytes_served": 220, "bytes_fetched": 0}
    ]


def test_fetched_bytes_and_the_ratio(api: Api) -> None:
    pk = model_with_file(api)
    for _ in range(3):
        api.app.get(f"/v1/pretrained-models/{pk}/download", headers=api.user, status=200)
    api.registry.usage.fetched(pk, 40)

    body = stats(api)
    assert (body["bytes_served"], body["bytes_fetched"], body["ratio"]) == (300, 40, 7.5)
    assert body["models"][0]["bytes_fetched"] == 40


def test_top_models(api: Api) -> None:
    framework = api.framework()["pk"]
    small = model_with_file(api, b"s" * 10, name="small", framework=framework)
    large = model_with_file(api, b"l" * 50, name="large", framework=framework)
    for pk in (small, small, large):
        api.app.get(f"/v1/pretrained-models/{pk}/download", headers=api.user, status=200)

    assert [(m["name"], m["bytes_served"]) for m in stats(api)["models"]] == [
        ("large", 50),
        ("small", 20),
    ]
    assert [m["name"] for m in stats(api, top=1)["models"]] == ["large"]
    assert stats(api, top=0)["models"] == []
    assert stats(api, top=0)["downloads"] == 3
    for wrong in ("x", "-1", "1001", "1.0", "", "9" * 40):
        response = api.app.get("/v1/stats", {"top": wrong}, headers=api.admin, status=400)
        assert list(response.json) == ["top"], wrong
        check(DOCUMENT, "/v1/stats", "get", response)


def test_a_hard_deleted_model_stays_in_the_totals(any_api: Api) -> None:
    api = any_api
    framework = api.framework()["pk"]
    gone = model_with_file(api, name="gone", framework=framework)
    kept = model_with_file(api, b"kept", name="kept", framework=framework)
    for pk in (gone, kept):
        api.app.get(f"/v1/pretrained-models/{pk}/download", headers=api.user, status=200)
    api.app.delete(f"/v1/pretrained-models/{gone}/hard", headers=api.admin, status=200)

    body = stats(api)
    assert (body["downloads"], body["bytes_served"]) == (2, 104)
    assert [m["name"] for m in body["models"]] == ["kept"]


def test_a_metered_file_reports_what_was_read_once(caplog: pytest.LogCaptureFixture) -> None:
    reports: list[int] = []
    file = io.BytesIO(bytes(10))
    file.seek(2)
    metered = MeteredFile(file, 2, 5, reports.append)
    assert metered.read(3) == bytes(3)
    metered.close()
    metered.close()
    assert reports == [3] and file.closed

    whole = MeteredFile(io.BytesIO(bytes(10)), 0, 4, reports.append)
    whole.read()
    whole.close()
    assert reports == [3, 4]  # never more than the response's length

    def broken(sent: int) -> None:
        raise RuntimeError("queue gone")

    failing = MeteredFile(io.BytesIO(b"x"), 0, 1, broken)
    with caplog.at_level(logging.WARNING, logger="entrypoints.web.downloads"):
        failing.close()
    assert "a download was not counted" in caplog.text


# -- a real server -------------------------------------------------------------


def wait_for_stats(
    server: LiveServer, done: Callable[[dict[str, Any]], bool], timeout: float = 15
) -> dict[str, Any]:
    """The statistics once ``done`` holds for them: a response is counted
    when the server closes it, which may be after the client has its bytes."""
    deadline = time.monotonic() + timeout
    while True:
        body = server.session.get(server.api("/stats"), timeout=30).json()
        if done(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_a_real_server_counts_whole_and_cut_downloads(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(threads=2)
    pk = server.model()
    size = 48 * MIB
    assert server.upload(pk, os.urandom(size)).status_code == 200
    path = f"/v1/pretrained-models/{pk}/download"

    whole = server.session.get(server.url + path, timeout=60)
    assert whole.status_code == 200 and len(whole.content) == size
    body = wait_for_stats(server, lambda b: b["bytes_served"] >= size)
    assert (body["downloads"], body["bytes_served"]) == (1, size)

    # A client that reads 1 MiB and hangs up: the bytes that left the
    # server count, no download does.
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", path, headers=dict(server.session.headers))
    response = connection.getresponse()
    assert response.status == 200
    assert len(response.read(MIB)) == MIB
    connection.sock.close()
    connection.close()

    body = wait_for_stats(server, lambda b: b["bytes_served"] > size)
    assert body["downloads"] == 1
    assert MIB <= body["bytes_served"] - size < size
    # Nothing more arrives later: the cut response was counted once.
    time.sleep(0.5)
    assert wait_for_stats(server, lambda b: True) == body


def test_a_download_that_outlives_its_model_still_counts(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(threads=2)
    pk = server.model()
    data = os.urandom(16 * MIB)
    assert server.upload(pk, data).status_code == 200

    download = server.session.get(
        server.api(f"/pretrained-models/{pk}/download"), stream=True, timeout=60
    )
    first = download.raw.read(MIB)
    hard = server.session.delete(server.api(f"/pretrained-models/{pk}/hard"), timeout=30)
    assert hard.status_code == 200
    assert first + download.raw.read() == data

    body = wait_for_stats(server, lambda b: b["downloads"] == 1)
    assert (body["downloads"], body["bytes_served"], body["models"]) == (1, len(data), [])
