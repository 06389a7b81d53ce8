"""The HTTP adapter of a migration's source against a stand-in for a UFDL
server: tokens renewed, users it will not show, downloads by ``POST`` only,
calls retried while it is briefly unavailable, a refused login."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from adapters.http_fetch import HttpFetcher
from adapters.source_server import HttpSourceServer
from domain.errors import SourceUnavailable

WEIGHTS = b"ufdl weights " * 1000


def token(name: str, lifetime: float) -> str:
    """A token shaped as a JWT, expiring ``lifetime`` seconds from now."""
    claims = {"exp": int(time.time() + lifetime), "name": name}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"e30.{payload}.sig"


class Ufdl:
    """Answers as a UFDL server does: a short-lived first access token, the
    users hidden (403), downloads by POST only (405 to GET), no Range."""

    def __init__(self) -> None:
        self.valid: set[str] = set()
        self.seen: list[tuple[str, str, str | None, Any]] = []  # method, path, token, body
        self.unavailable = 0  # answer 503 this many times first
        self.revoke_next = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                auth = self.headers.get("Authorization", "").removeprefix("Bearer ") or None
                server.seen.append((method, self.path, auth, body))
                status, answer = server.route(method, self.path, auth, body)
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def route(self, method: str, path: str, auth: str | None, body: Any) -> tuple[int, Any]:
        if path == "/v1/auth/obtain":
            if body != {"username": "admin", "password": "pw"}:
                return 401, {"detail": "No active account found with the given credentials"}
            return 200, {"access": self._issue(token("first", 5)), "refresh": "refresh-1"}
        if path == "/v1/auth/refresh":
            return 200, {"access": self._issue(token("renewed", 3600))}
        if self.revoke_next:
            self.revoke_next = False
            self.valid.clear()
        if auth not in self.valid:
            return 401, {"detail": "Given token not valid for any token type"}
        if self.unavailable:
            self.unavailable -= 1
            return 503, {"detail": "busy"}
        if path == "/v1/pretrained-models/list":
            return 200, [{"pk": 1, "name": "m", "data": True}]
        if path.startswith("/v1/users/"):
            return 403, {"detail": "You do not have permission to perform this action."}
        if path == "/v1/pretrained-models/1/download":
            return (
                (405, {"detail": 'Method "GET" not allowed.'})
                if method == "GET"
                else (200, WEIGHTS)
            )
        return 404, {"detail": "Not found."}

    def _issue(self, value: str) -> str:
        self.valid.add(value)
        return value


@pytest.fixture
def ufdl() -> Iterator[Ufdl]:
    server = Ufdl()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def connect(ufdl: Ufdl, password: str = "pw") -> HttpSourceServer:
    return HttpSourceServer(ufdl.url, "admin", password, HttpFetcher(timeout=2, retries=2))


def test_a_token_about_to_expire_or_refused_is_renewed(ufdl: Ufdl) -> None:
    source = connect(ufdl)
    try:
        assert source.models() == [{"pk": 1, "name": "m", "data": True}]
        ufdl.revoke_next = True  # the next call's token is refused: renewed
        assert len(source.models()) == 1
    finally:
        source.close()
    calls = [(method, path) for method, path, _, _ in ufdl.seen]
    assert calls == [
        ("POST", "/v1/auth/obtain"),
        ("POST", "/v1/auth/refresh"),  # the first token had 5 s left
        ("POST", "/v1/pretrained-models/list"),
        ("POST", "/v1/pretrained-models/list"),  # refused
        ("POST", "/v1/auth/refresh"),
        ("POST", "/v1/pretrained-models/list"),
    ]
    lists = [body for method, path, _, body in ufdl.seen if path.endswith("/list")]
    assert lists == [{"include_inactive": True}] * 3


def test_users_it_will_not_show_have_no_name(ufdl: Ufdl) -> None:
    source = connect(ufdl)
    try:
        assert source.username(1) is None
        assert source.username(1) is None
    finally:
        source.close()
    assert [path for _, path, _, _ in ufdl.seen].count("/v1/users/1") == 1


def test_a_file_is_downloaded_by_post_where_get_is_refused(ufdl: Ufdl) -> None:
    source = connect(ufdl)
    try:
        for _ in range(2):
            with source.open_file(1) as stream:
                assert stream.read() == WEIGHTS
    finally:
        source.close()
    downloads = [(m, body) for m, path, _, body in ufdl.seen if path.endswith("/download")]
    assert downloads == [
        ("GET", None),
        ("POST", {"filetype": "data"}),
        ("POST", {"filetype": "data"}),  # remembered
    ]


def test_a_briefly_unavailable_source_is_asked_again(ufdl: Ufdl) -> None:
    source = connect(ufdl)
    try:
        ufdl.unavailable = 2
        assert len(source.models()) == 1
        ufdl.unavailable = 3
        with pytest.raises(SourceUnavailable, match="answered 503 \\(gave up after 3 attempts"):
            source.models()
    finally:
        source.close()


def test_a_refused_login_says_so(ufdl: Ufdl) -> None:
    with pytest.raises(SourceUnavailable) as refused:
        connect(ufdl, password="wrong")
    assert refused.value.detail == (
        f"Cannot log in to {ufdl.url} as 'admin': {ufdl.url}/v1/auth/obtain answered 401: "
        "No active account found with the given credentials"
    )
