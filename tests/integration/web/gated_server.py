"""The modelhub server (``entrypoints.web.server``) in a thread, an app with
an admin, a user and a model to put behind it, and a raw HTTP/1.1 client
that sends exactly the bytes a test chooses."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import webtest
from pyramid.router import Router
from waitress import wasyncore
from waitress.channel import HTTPChannel

from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry
from entrypoints.web import make_app
from entrypoints.web.server import create_server
from tests.integration.web.conftest import PASSWORDS, make_registry

GIB = 1024**3


@dataclass
class Site:
    """One app, reached in-process through WebTest; ``values`` holds the
    tokens (``admin``, ``user``, ``admin_refresh``, ``expired``,
    ``admin_unmarked``) and the pks (``framework``, ``model``) that request
    templates name."""

    app: Router
    web: webtest.TestApp
    registry: Registry
    values: dict[str, Any]

    def fill(self, text: str) -> str:
        return text.format(**self.values)

    def bearer(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.values[who]}"}


def build_site(folder: Path, sqlite_template: Path, **overrides: Any) -> Site:
    """The app on a copy of the seeded SQLite file, with an admin, a user
    (alice), a framework and a model without a file."""
    shutil.copy(sqlite_template, folder / "modelhub.sqlite")
    registry = make_registry(
        f"sqlite:///{folder / 'modelhub.sqlite'}", folder / "blobs", **overrides
    )
    with registry.transaction() as services:
        for username, staff in (("admin", True), ("alice", False)):
            services.users.create(
                SYSTEM,
                {"username": username, "password": PASSWORDS[username], "is_staff": staff},
            )
    app = make_app(registry)
    web = webtest.TestApp(app)
    values: dict[str, Any] = {}
    for name, username in (("admin", "admin"), ("user", "alice")):
        login = {"username": username, "password": PASSWORDS[username]}
        pair = web.post_json("/v1/auth/obtain", login).json
        values[name] = pair["access"]
        values[f"{name}_refresh"] = pair["refresh"]
    site = Site(app, web, registry, values)
    framework = {"name": "pt", "version": "2"}
    values["framework"] = web.post_json(
        "/v1/frameworks/create", framework, headers=site.bearer("admin")
    ).json["pk"]
    model = {
        "framework": values["framework"],
        "domain": "ic",
        "licence": "MIT",
        "url": "https://example.org/m",
        "description": "",
        "name": "m",
    }
    values["model"] = web.post_json(
        "/v1/pretrained-models/create", model, headers=site.bearer("admin")
    ).json["pk"]
    now = int(time.time())
    values["expired"] = registry.signer.sign(
        {"upk": 1, "jtt": "access", "iat": now - 600, "exp": now - 300, "jti": "x", "adm": True}
    )
    # An admin's access token from before tokens recorded is_staff.
    values["admin_unmarked"] = registry.signer.sign(
        {"upk": 1, "jtt": "access", "iat": now, "exp": now + 300, "jti": "y", "gen": 0}
    )
    return site


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class GatedServer:
    """A running server; ``stop`` ends its loop and its worker threads."""

    server: Any
    thread: threading.Thread
    host: str = "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.server.effective_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def connect(self, source: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
        """A connection from ``source`` (another loopback address plays
        another client)."""
        sock = socket.create_connection(
            (self.host, self.port), timeout=timeout, source_address=(source, 0)
        )
        return sock

    def stop(self) -> None:
        self.server.task_dispatcher.shutdown()
        # Closing every socket from the loop's own thread ends the loop.
        self.server.trigger.pull_trigger(self._close_all)
        self.thread.join(10)

    def _close_all(self) -> None:
        socket_map = self.server._map
        for dispatcher in list(socket_map.values()):
            if isinstance(dispatcher, HTTPChannel):
                # waitress's own close, which also closes the files of
                # downloads in flight (no lingering here).
                HTTPChannel.handle_close(dispatcher)
        wasyncore.close_all(socket_map)


def start_gated(app: Any, **settings: Any) -> GatedServer:
    """The modelhub server around ``app`` on a free port of 127.0.0.1."""
    settings.setdefault("threads", 4)
    settings.setdefault("listen", "127.0.0.1:0")
    server = create_server(app, expose_tracebacks=False, ident="modelhub", **settings)
    thread = threading.Thread(target=server.run, name="gated-server", daemon=True)
    thread.start()
    return GatedServer(server, thread)


def request_head(
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    *,
    length: int | None = None,
) -> bytes:
    """A request's head; ``length`` becomes its Content-Length."""
    lines = [f"{method} {path} HTTP/1.1", "Host: modelhub"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Reader:
    """Reads HTTP/1.1 responses from a socket."""

    sock: socket.socket
    pending: bytes = field(default=b"")

    def _more(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            return b""

    def response(self) -> RawResponse:
        """The next response (with Content-Length, as every modelhub answer has)."""
        while b"\r\n\r\n" not in self.pending:
            data = self._more()
            if not data:
                raise ConnectionError(f"closed before a response: {self.pending!r}")
            self.pending += data
        head, _, self.pending = self.pending.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status < 200:
            return RawResponse(status, headers, b"")
        length = int(headers.get("content-length", "0"))
        while len(self.pending) < length:
            data = self._more()
            if not data:
                raise ConnectionError("closed within a response body")
            self.pending += data
        body, self.pending = self.pending[:length], self.pending[length:]
        return RawResponse(status, headers, body)

    def closes(self, timeout: float = 10.0) -> bool:
        """Whether the server ends the connection within ``timeout``, with
        nothing more sent."""
        if self.pending:
            return False
        self.sock.settimeout(timeout)
        try:
            return self._more() == b""
        except TimeoutError:
            return False
