"""The server answers a request the app refuses before reading its body, with
the app's own answer (``entrypoints.web.gate``, ``entrypoints.web.server``).

Each refused request is sent to the real server over a socket with only the
start of its body, and must be answered at once with exactly what the app
answers to the whole request through WebTest; then the connection closes.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import webtest

from entrypoints.web.bodies import MAX_JSON_BODY
from entrypoints.web.server import BodyWithheld, WithheldBody
from entrypoints.web.uploads import MULTIPART_FRAMING
from tests.integration.web.conftest import MAX_FILE_SIZE
from tests.integration.web.gated_server import (
    GIB,
    GatedServer,
    RawResponse,
    Reader,
    Site,
    build_site,
    request_head,
    start_gated,
)

KIB, MIB = 1024, 1024 * 1024
SENT = 64 * KIB  # how much of a body the client sends before it waits
ANSWER_WITHIN = 10.0  # seconds: generous; a waiting server never answers
COMPARED_HEADERS = ("content-type", "www-authenticate", "allow", "retry-after")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Site]:
    site = build_site(tmp_path_factory.mktemp("gate"), sqlite_template)
    yield site
    site.registry.dispose()


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[GatedServer]:
    server = start_gated(site.app)
    yield server
    server.stop()


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


RAW = {"Content-Type": "application/data", "Content-Disposition": "attachment; filename=data"}
JSON = {"Content-Type": "application/json"}
UPLOAD = "/v1/pretrained-models/{model}/data"
FILE = b"\x00" * (2 * MAX_FILE_SIZE)
BIG_JSON = b"[" + b"0," * (MAX_JSON_BODY // 2) + b"0]"
SMALL_JSON = json.dumps({"name": "jax", "version": "0.4"}).encode()
MULTIPART = {"Content-Type": "multipart/form-data; boundary=xyz"}
MULTIPART_BODY = b"\x00" * (MAX_FILE_SIZE + MULTIPART_FRAMING + 4 * KIB)
TUS_PART = {
    "Tus-Resumable": "1.0.0",
    "Content-Type": "application/offset+octet-stream",
    "Upload-Offset": "0",
}
PART_OF = "/v1/uploads/" + "0" * 32

REFUSED = [
    Case("anonymous upload", "POST", UPLOAD, RAW, FILE),
    Case("a user's upload", "POST", UPLOAD, {**RAW, **bearer("{user}")}, FILE),
    Case("upload with a refresh token", "POST", UPLOAD, {**RAW, **bearer("{admin_refresh}")}, FILE),
    Case("upload with an expired token", "POST", UPLOAD, {**RAW, **bearer("{expired}")}, FILE),
    Case("upload with a forged token", "POST", UPLOAD, {**RAW, **bearer("a.b.c")}, FILE),
    Case(
        "upload with Basic credentials",
        "POST",
        UPLOAD,
        {**RAW, "Authorization": "Basic YQ=="},
        FILE,
    ),
    Case("upload over the size limit", "POST", UPLOAD, {**RAW, **bearer("{admin}")}, FILE),
    Case(
        "multipart upload over the limit and framing",
        "POST",
        UPLOAD,
        {**MULTIPART, **bearer("{admin}")},
        MULTIPART_BODY,
    ),
    Case(
        "anonymous upload, pk out of range",
        "POST",
        "/v1/pretrained-models/99999999999/data",
        RAW,
        FILE,
    ),
    Case("anonymous part of a resumable upload", "PATCH", PART_OF, TUS_PART, FILE),
    Case("a user's part", "PATCH", PART_OF, {**TUS_PART, **bearer("{user}")}, FILE),
    Case("a part over the size limit", "PATCH", PART_OF, {**TUS_PART, **bearer("{admin}")}, FILE),
    Case("anonymous create", "POST", "/v1/frameworks/create", JSON, SMALL_JSON),
    Case("anonymous list", "POST", "/v1/pretrained-models/list", JSON, BIG_JSON),
    Case(
        "update with an expired token",
        "PATCH",
        "/v1/frameworks/{framework}",
        {**JSON, **bearer("{expired}")},
        SMALL_JSON,
    ),
    Case(
        "JSON over its limit",
        "POST",
        "/v1/pretrained-models/list",
        {**JSON, **bearer("{user}")},
        BIG_JSON,
    ),
    Case("login over its limit", "POST", "/v1/auth/obtain", JSON, BIG_JSON),
    Case("unknown path", "POST", "/v1/nowhere", bearer("{admin}"), FILE),
    Case("unknown path outside the API", "PUT", "/upload", {}, FILE),
    Case(
        "wrong method", "PUT", "/v1/pretrained-models/list", {**JSON, **bearer("{admin}")}, BIG_JSON
    ),
    Case("wrong method on the upload route", "PUT", UPLOAD, {**RAW, **bearer("{admin}")}, FILE),
    Case("GET with a body", "GET", "/v1/domains/1", bearer("{user}"), SMALL_JSON),
]


def app_answer(site: Site, case: Case) -> webtest.TestResponse:
    """The app's answer to the whole request, in-process."""
    headers = {name: site.fill(value) for name, value in case.headers.items()}
    return site.web.request(
        site.fill(case.path),
        method=case.method,
        headers=headers,
        body=case.body,
        expect_errors=True,
    )


def send_start(server: GatedServer, head: bytes, body: bytes = b"") -> tuple[socket.socket, Reader]:
    sock = server.connect(timeout=ANSWER_WITHIN)
    sock.sendall(head + body)
    return sock, Reader(sock)


def gated_answer(
    site: Site, server: GatedServer, case: Case, sent: int = SENT
) -> tuple[RawResponse, bool]:
    """The server's answer when the client sends the head and ``sent`` bytes
    of the body, then waits; and whether the server then closed."""
    headers = {name: site.fill(value) for name, value in case.headers.items()}
    head = request_head(case.method, site.fill(case.path), headers, length=len(case.body))
    sock, reader = send_start(server, head, case.body[:sent])
    with sock:
        return reader.response(), reader.closes()


def assert_same(gated: RawResponse, expected: webtest.TestResponse, what: str) -> None:
    assert gated.status == expected.status_int, what
    assert gated.json() == expected.json, what
    for name in COMPARED_HEADERS:
        assert gated.headers.get(name) == expected.headers.get(name), f"{what}: {name}"


@pytest.mark.parametrize("case", REFUSED, ids=[case.name for case in REFUSED])
def test_a_refused_request_hears_the_apps_answer_before_its_body(
    site: Site, server: GatedServer, case: Case
) -> None:
    expected = app_answer(site, case)
    assert expected.status_int != 500
    answered, closed = gated_answer(site, server, case)
    assert_same(answered, expected, case.name)
    assert answered.headers["connection"] == "close"
    assert closed


def test_an_anonymous_2_gib_upload_hears_401_at_once(site: Site, server: GatedServer) -> None:
    expected = app_answer(site, Case("small", "POST", UPLOAD, RAW, b"bytes"))
    head = request_head("POST", site.fill(UPLOAD), RAW, length=2 * GIB)
    started = time.monotonic()
    sock, reader = send_start(server, head, b"\x00" * (256 * KIB))
    with sock:
        answered = reader.response()
        assert time.monotonic() - started < ANSWER_WITHIN
        assert reader.closes()
    assert answered.status == 401
    assert_same(answered, expected, "2 GiB anonymous upload")


def test_a_refused_request_is_not_invited_to_continue(site: Site, server: GatedServer) -> None:
    headers = {**RAW, "Expect": "100-continue"}
    head = request_head("POST", site.fill(UPLOAD), headers, length=2 * GIB)
    sock, reader = send_start(server, head)
    with sock:
        answered = reader.response()
        assert reader.closes()
    assert answered.status == 401  # not 100 Continue first


def test_an_admin_upload_is_invited_to_continue_and_stored(site: Site, server: GatedServer) -> None:
    data = b"model bytes " * 10_000
    headers = {**RAW, **site.bearer("admin"), "Expect": "100-continue"}
    head = request_head("POST", site.fill(UPLOAD), headers, length=len(data))
    sock, reader = send_start(server, head)
    with sock:
        assert reader.response().status == 100
        sock.sendall(data)
        answered = reader.response()
        assert answered.status == 200, answered.body
        assert answered.json()["data_size"] == len(data)
        # An accepted request keeps its connection.
        sock.sendall(request_head("GET", "/v1/domains/1", site.bearer("user")))
        again = reader.response()
    assert again.status == 200


def test_an_admin_token_without_the_admin_claim_is_left_to_the_app(
    site: Site, server: GatedServer
) -> None:
    data = b"older token " * 1000
    headers = {**RAW, **site.bearer("admin_unmarked")}
    head = request_head("POST", site.fill(UPLOAD), headers, length=len(data))
    sock, reader = send_start(server, head, data)
    with sock:
        answered = reader.response()
    assert answered.status == 200, answered.body
    assert answered.json()["data_size"] == len(data)


def chunked_head(path: str, headers: dict[str, str]) -> bytes:
    return request_head("POST", path, {**headers, "Transfer-Encoding": "chunked"})


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_a_chunked_json_body_is_cut_past_its_limit(site: Site, server: GatedServer) -> None:
    case = Case("", "POST", "/v1/pretrained-models/list", {**JSON, **bearer("{user}")}, BIG_JSON)
    expected = app_answer(site, case)
    headers = {name: site.fill(value) for name, value in case.headers.items()}
    sock, reader = send_start(server, chunked_head(case.path, headers))
    with sock:
        sent = 0
        sock.setblocking(False)
        # Send until the server answers (it stops reading past 1 MiB), never
        # more than 8 MiB.
        while sent < 8 * MIB:
            try:
                sock.send(chunk(b" " * (64 * KIB)))
                sent += 64 * KIB
            except BlockingIOError:
                time.sleep(0.01)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break
            except BlockingIOError:
                continue
        sock.setblocking(True)
        sock.settimeout(ANSWER_WITHIN)
        answered = reader.response()
        assert reader.closes()
    assert sent < 8 * MIB
    assert_same(answered, expected, "chunked JSON past its limit")


def test_a_chunked_anonymous_upload_is_refused_from_its_headers(
    site: Site, server: GatedServer
) -> None:
    sock, reader = send_start(server, chunked_head(site.fill(UPLOAD), RAW), chunk(b"x" * KIB))
    with sock:
        answered = reader.response()
        assert reader.closes()
    assert answered.status == 401


def test_a_chunked_json_body_within_its_limit_is_read(site: Site, server: GatedServer) -> None:
    spec = json.dumps({"expressions": [{"type": "exact", "field": "name", "value": "m"}]}).encode()
    headers = {**JSON, **site.bearer("user")}
    body = chunk(spec[:10]) + chunk(spec[10:]) + b"0\r\n\r\n"
    sock, reader = send_start(server, chunked_head("/v1/pretrained-models/list", headers), body)
    with sock:
        answered = reader.response()
    assert answered.status == 200, answered.body
    assert [model["name"] for model in answered.json()] == ["m"]
    assert "connection" not in answered.headers  # kept alive


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        (UPLOAD, RAW, 401),
        ("/v1/frameworks/create", JSON, 401),
        ("/v1/nowhere", {}, 404),
    ],
)
def test_a_client_still_sending_reads_the_answer(
    site: Site, server: GatedServer, path: str, headers: dict[str, str], status: int
) -> None:
    """A client that sends its whole body before it reads (``http.client``,
    no ``Expect``) reads the answer, not a connection reset."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("POST", site.fill(path), body=b"\x00" * (16 * MIB), headers=headers)
        response = connection.getresponse()
        assert response.status == status
        assert "detail" in json.loads(response.read())
    finally:
        connection.close()


def test_an_app_reading_a_withheld_body_fails_loudly() -> None:
    body = WithheldBody(io.BytesIO(b"first bytes"), len(b"first bytes"))
    assert body.read(5) == b"first"
    assert body.read(100) == b" bytes"
    with pytest.raises(BodyWithheld):
        body.read(1)
