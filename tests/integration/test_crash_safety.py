"""A server killed with SIGKILL while it stores an upload leaves no partial
blob visible and a consistent database; its leftovers are recognisable."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from adapters.filesystem import FileBlobStore
from entrypoints.cli import create_user
from entrypoints.cli import main as modelhub
from tests.integration.conftest import APP_INI

MIB = 1024 * 1024
BODY_SIZE = 512 * MIB

INI = (
    APP_INI
    + """\
modelhub.max_file_size = 1073741824

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:{port}
max_request_body_size = 2147483648
"""
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, ini: Path, port: int) -> None:
        self.ini, self.url = ini, f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        pserve = Path(sys.executable).with_name("pserve")
        self.process = subprocess.Popen(
            [str(pserve), str(self.ini)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.post(f"{self.url}/v1/auth/verify", json={"token": "x"}, timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = _free_port()
    ini = tmp_path / "crash.ini"
    ini.write_text(INI.replace("{port}", str(port)))
    assert create_user.main([str(ini), "admin", "--admin"], stdin=io.StringIO("pw\n")) == 0
    server = Server(ini, port)
    server.start()
    yield server
    server.kill()


def _body() -> Iterator[bytes]:
    chunk = b"\x5a" * (8 * MIB)
    for _ in range(BODY_SIZE // len(chunk)):
        yield chunk


def test_sigkill_while_storing_an_upload(server: Server, tmp_path: Path) -> None:
    session = requests.Session()
    token = session.post(
        f"{server.url}/v1/auth/obtain", json={"username": "admin", "password": "pw"}, timeout=30
    ).json()["access"]
    session.headers["Authorization"] = f"Bearer {token}"
    framework = session.post(
        f"{server.url}/v1/frameworks/create", json={"name": "f", "version": "1"}, timeout=30
    ).json()
    model = session.post(
        f"{server.url}/v1/pretrained-models/create",
        json={"framework": framework["pk"], "domain": "ic", "licence": "MIT",
              "url": "https://example.org", "description": "", "name": "crash"},
        timeout=30,
    ).json()  # fmt: skip
    data_url = f"{server.url}/v1/pretrained-models/{model['pk']}/data"

    def upload() -> None:
        with contextlib.suppress(requests.RequestException):  # the server dies under it
            session.post(data_url, data=_body(), headers={"Content-Type": "application/data"})

    uploader = threading.Thread(target=upload, daemon=True)
    uploader.start()
    store = FileBlobStore(tmp_path / "var" / "blobs")
    deadline = time.monotonic() + 120
    while not list(store.temporary_files()):
        assert time.monotonic() < deadline, "the upload never reached the blob store"
        time.sleep(0.005)
    server.kill()
    uploader.join(timeout=30)

    leftovers = [Path(path) for path, _ in store.temporary_files()]
    assert len(leftovers) == 1
    assert leftovers[0].name.startswith("upload-") and leftovers[0].suffix == ".part"
    assert leftovers[0].stat().st_size < BODY_SIZE
    assert not (store.blob_dir).exists() or (
        not any(store.blob_dir.rglob("*.*"))
        and not [p for p in store.blob_dir.rglob("*") if p.is_file()]
    )

    server.start()
    after = session.get(f"{server.url}/v1/pretrained-models/{model['pk']}", timeout=30).json()
    assert after["data"] is False and after["data_sha256"] is None
    assert session.post(data_url, data=b"fine", timeout=30).status_code == 200
    assert session.get(data_url.replace("/data", "/download"), timeout=30).content == b"fine"

    # The leftover is what `modelhub gc` removes once past its grace period.
    assert modelhub.main(["-c", str(server.ini), "gc", "--grace", "3600"]) == 0
    assert leftovers[0].exists()
    os.utime(leftovers[0], (time.time() - 7200, time.time() - 7200))
    assert modelhub.main(["-c", str(server.ini), "gc", "--grace", "3600"]) == 0
    assert list(store.temporary_files()) == []
