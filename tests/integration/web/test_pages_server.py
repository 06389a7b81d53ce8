"""The pages through the modelhub server: the session cookie behind a proxy,
and the server's body gate judging session cookies and forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from entrypoints.web import make_app
from entrypoints.web.bodies import MAX_FORM_BODY
from tests.integration.web.conftest import PASSWORDS, Api, _build_api
from tests.integration.web.gated_server import GatedServer, start_gated


@pytest.fixture
def api(sqlite_url: str, tmp_path: Path) -> Iterator[Api]:
    built = _build_api(sqlite_url, tmp_path / "blobs")
    yield built
    built.registry.dispose()


@pytest.fixture
def behind_proxy(api: Api) -> Iterator[GatedServer]:
    """The server trusting 127.0.0.1 as its proxy's address, as production.ini."""
    server = start_gated(
        make_app(api.registry),
        trusted_proxy="127.0.0.1",
        trusted_proxy_headers="x-forwarded-proto",
        clear_untrusted_proxy_headers=True,
    )
    yield server
    server.stop()


def sign_in(url: str, session: requests.Session, **headers: str) -> requests.Response:
    """Sign in as admin through the form, the session cookie sent back by
    hand (a client told it is on https keeps a Secure cookie from plain http)."""
    page = session.get(f"{url}/sign-in", headers=headers, timeout=30)
    token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
    assert token is not None
    cookie = page.headers["Set-Cookie"].split(";", 1)[0]
    form = {"csrf_token": token.group(1), "username": "admin", "password": PASSWORDS["admin"]}
    return session.post(
        f"{url}/sign-in",
        data=form,
        headers={**headers, "Cookie": cookie},
        allow_redirects=False,
        timeout=30,
    )


def test_the_cookie_is_secure_when_the_proxy_says_https(behind_proxy: GatedServer) -> None:
    url = behind_proxy.url
    plain = sign_in(url, requests.Session())
    assert plain.status_code == 303
    assert "secure" not in plain.headers["Set-Cookie"].lower()
    https = {"X-Forwarded-Proto": "https", "Origin": f"https://127.0.0.1:{behind_proxy.port}"}
    secure = sign_in(url, requests.Session(), **https)
    assert secure.status_code == 303, secure.text
    cookie = secure.headers["Set-Cookie"]
    assert "; secure" in cookie.lower() and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert secure.headers["Location"].startswith("https://")
    # Over https, a form from another site is refused by its Origin.
    forged = sign_in(url, requests.Session(), **{**https, "Origin": "https://evil.example"})
    assert forged.status_code == 400


def test_the_gate_reads_the_session_cookie_and_its_csrf_header(api: Api) -> None:
    server = start_gated(make_app(api.registry))
    try:
        session = requests.Session()
        assert sign_in(server.url, session).status_code == 303
        page = session.get(f"{server.url}/", timeout=30).text
        token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page)
        assert token is not None
        create = f"{server.url}/v1/frameworks/create"
        body = {"name": "keras", "version": "3"}
        refused = session.post(create, json=body, timeout=30)
        assert refused.status_code == 400 and "X-CSRF-Token" in refused.json()["detail"]
        made = session.post(create, json=body, headers={"X-CSRF-Token": token.group(1)}, timeout=30)
        assert made.status_code == 201, made.text
        # An upload the session authenticates passes the gate, as an admin's.
        pk = api.model(framework=made.json()["pk"])["pk"]
        upload = session.post(
            f"{server.url}/v1/pretrained-models/{pk}/data",
            data=b"weights",
            headers={"X-CSRF-Token": token.group(1), "Content-Type": "application/data"},
            timeout=30,
        )
        assert upload.status_code == 200 and upload.json()["data_size"] == 7
        check = session.get(
            f"{server.url}/v1/auth/check-upload",
            headers={"X-CSRF-Token": token.group(1)},
            timeout=30,
        )
        assert check.status_code == 204
        assert session.get(f"{server.url}/v1/auth/check-upload", timeout=30).status_code == 401
        # A page's form larger than a form can be is refused, unread.
        large = session.post(f"{server.url}/sign-in", data=b"x" * (MAX_FORM_BODY + 1), timeout=30)
        assert large.status_code == 413
    finally:
        server.stop()
