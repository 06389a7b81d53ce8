"""Slow and greedy clients do not lock others out of the server: headers
have a deadline, one client address has a connection cap, and the shipped
ini files leave room for many open connections."""

from __future__ import annotations

import configparser
import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import requests

from entrypoints.web.server import create_server, serve_paste
from tests.integration.web.gated_server import (
    GatedServer,
    Reader,
    Site,
    build_site,
    request_head,
    start_gated,
)

ROOT = Path(__file__).resolve().parents[3]
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Site]:
    site = build_site(tmp_path_factory.mktemp("slow"), sqlite_template, max_file_size=16 * MIB)
    upload = site.web.post(
        site.fill("/v1/pretrained-models/{model}/data"),
        b"\x01" * (8 * MIB),
        headers={**site.bearer("admin"), "Content-Type": "application/data"},
    )
    assert upload.status_int == 200
    yield site
    site.registry.dispose()


@pytest.fixture
def gated() -> Iterator[Callable[..., GatedServer]]:
    """Starts the modelhub server around an app with the given settings."""
    started: list[GatedServer] = []

    def start(app: Any, **settings: Any) -> GatedServer:
        started.append(start_gated(app, **settings))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def server_settings(ini: Path) -> dict[str, str]:
    """The ``[server:main]`` section of an ini file."""
    config = configparser.RawConfigParser()
    config.read(ini)
    return dict(config["server:main"])


def api_call(site: Site, server: GatedServer) -> requests.Response:
    return requests.get(f"{server.url}/v1/domains/1", headers=site.bearer("user"), timeout=10)


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (checked without waiting)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.setblocking(True)


def test_headers_must_be_complete_within_the_header_timeout(
    site: Site, gated: Callable[..., GatedServer]
) -> None:
    server = gated(site.app, header_timeout=1)
    head = request_head("GET", "/v1/domains/1", site.bearer("user"))
    started = time.monotonic()
    closed = False
    with server.connect("127.0.0.2") as sock:
        # One byte every 0.1 s: each would reset an idle timeout.
        for byte in head[:-1]:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.1)
            if closed_by_server(sock) or time.monotonic() - started > 15:
                closed = closed_by_server(sock)
                break
    assert closed
    assert time.monotonic() - started < 10


def test_an_idle_connection_between_requests_is_kept(
    site: Site, gated: Callable[..., GatedServer]
) -> None:
    server = gated(site.app, header_timeout=1)
    with server.connect() as sock:
        reader = Reader(sock)
        sock.sendall(request_head("GET", "/v1/domains/1", site.bearer("user")))
        assert reader.response().status == 200
        time.sleep(2)  # longer than header_timeout, but no request has begun
        sock.sendall(request_head("GET", "/v1/domains/1", site.bearer("user")))
        assert reader.response().status == 200


def test_one_address_cannot_take_every_connection(
    site: Site, gated: Callable[..., GatedServer]
) -> None:
    server = gated(site.app, connections_per_address=5)
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(server.connect("127.0.0.2")) for _ in range(5)]
        for sock in held:
            sock.sendall(b"GET /v1/domains/1 HTTP/1.1\r\n")  # and nothing more
        with server.connect("127.0.0.2") as extra:
            extra.sendall(request_head("GET", "/v1/domains/1", site.bearer("user")))
            reader = Reader(extra)
            refused = reader.response()
            assert reader.closes()
        assert refused.status == 503
        assert int(refused.headers["retry-after"]) > 0
        assert "detail" in refused.json()
        # Other clients are served meanwhile.
        assert api_call(site, server).status_code == 200
        # A connection closed frees its place.
        held[0].close()
        deadline = time.monotonic() + 10
        while True:
            with server.connect("127.0.0.2") as again:
                again.sendall(request_head("GET", "/v1/domains/1", site.bearer("user")))
                status = Reader(again).response().status
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == 200


def test_a_trusted_proxy_is_not_capped(site: Site, gated: Callable[..., GatedServer]) -> None:
    server = gated(
        site.app,
        connections_per_address=2,
        trusted_proxy="127.0.0.3",
        trusted_proxy_headers="x-forwarded-for",
    )
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(server.connect("127.0.0.3")) for _ in range(4)]
        for sock in socks:
            sock.sendall(request_head("GET", "/v1/domains/1", site.bearer("user")))
        assert [Reader(sock).response().status for sock in socks] == [200] * 4


def test_the_api_answers_while_many_slow_clients_hold_connections(
    site: Site, gated: Callable[..., GatedServer]
) -> None:
    """150 clients stuck in their headers (from three addresses) and 20
    downloads nobody reads hold connections; the API still answers, with the
    settings ``development.ini`` ships."""
    settings = server_settings(ROOT / "development.ini")
    del settings["use"], settings["listen"]
    server = gated(site.app, **settings)
    download = request_head(
        "GET", site.fill("/v1/pretrained-models/{model}/download"), site.bearer("user")
    )
    with contextlib.ExitStack() as stack:
        for address in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
            for _ in range(50):
                sock = stack.enter_context(server.connect(address))
                sock.sendall(b"POST /v1/auth/obtain HTTP/1.1\r\nHost: m")
        for _ in range(20):
            sock = stack.enter_context(server.connect("127.0.0.5"))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(download)
        started = time.monotonic()
        response = api_call(site, server)
        assert response.status_code == 200
        assert time.monotonic() - started < 10


@pytest.mark.parametrize("ini", ["development.ini", "production.ini"])
def test_the_ini_files_run_the_modelhub_server(site: Site, ini: str) -> None:
    settings = server_settings(ROOT / ini)
    assert settings.pop("use") == "egg:modelhub#waitress"
    (runner,) = entry_points(
        group="paste.server_runner", name="waitress", module=serve_paste.__module__
    )
    assert runner.load() is serve_paste
    # Every setting is known to waitress or to the modelhub server.
    server = create_server(site.app, **{**settings, "listen": "127.0.0.1:0"})
    server.task_dispatcher.shutdown()
    server.close()
