"""The production topology of deploy/run-local: nginx in front of two
waitress instances of production.ini on PostgreSQL, through real sockets.

Skipped when nginx is not installed, except under CI=true (.ci/run installs it).
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import requests
import webtest
from tusclient.client import TusClient

from adapters.passwords import Argon2PasswordHasher
from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry
from entrypoints.settings import Settings
from entrypoints.web import make_app
from tests.conftest import empty_database
from tests.integration.s3_server import S3Server, new_bucket

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "deploy" / "run-local"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)

if NGINX is None and os.environ.get("CI", "").lower() != "true":
    pytest.skip("nginx is not installed (apt-get install nginx-light)", allow_module_level=True)

pytestmark = pytest.mark.postgresql


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Deployment:
    def __init__(self, url: str, settings: Settings, pid: int, admin: str, user: str) -> None:
        self.url = url
        self.settings = settings  # the instances', less what run-local adds
        self.blob_root = settings.blob_root
        self.pid = pid
        self.admin = {"Authorization": f"Bearer {admin}"}
        self.user = {"Authorization": f"Bearer {user}"}

    def instance_pids(self) -> list[int]:
        """The waitress instances deploy/run-local started."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [
            int(pid)
            for pid in children
            if b"--serve-instance" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]

    def written_by_instances(self) -> int:
        """Bytes the instances have passed to write() so far (``wchar``)."""
        total = 0
        for pid in self.instance_pids():
            for line in Path(f"/proc/{pid}/io").read_text().splitlines():
                if line.startswith("wchar:"):
                    total += int(line.split()[1])
        return total


def _token(url: str, username: str, password: str) -> str:
    body = {"username": username, "password": password}
    response = requests.post(f"{url}/v1/auth/obtain", json=body, timeout=10)
    response.raise_for_status()
    return response.json()["access"]


@pytest.fixture(scope="module")
def fresh_database(postgres_server_url: str) -> Iterator[str]:
    """A database of its own, left empty for deploy/run-local's initdb."""
    with empty_database(postgres_server_url, "modelhub_deploy") as url:
        yield url


@contextlib.contextmanager
def run_local(
    database_url: str, blob_root: Path, *options: str, **environ: str
) -> Iterator[Deployment]:
    """deploy/run-local on a free port, with an admin and a normal user,
    stopped by SIGTERM afterwards (which must stop it cleanly)."""
    assert NGINX is not None, "CI=true but nginx is not installed"
    env = {
        **os.environ,
        **environ,
        "MODELHUB_DATABASE_URL": database_url,
        "MODELHUB_BLOB_ROOT": str(blob_root),
        "MODELHUB_JWT_KEY": secrets.token_urlsafe(48),
    }
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", str(port), *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    output: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "Stop with Ctrl-C" in line:
                break
        else:
            pytest.fail("deploy/run-local did not start:\n" + "".join(output))
        assert f"{url}/v1/" in "".join(output)
        assert "user add admin --admin" in "".join(output)
        settings = Settings(database_url, blob_root, env["MODELHUB_JWT_KEY"])
        registry = Registry(settings, hasher=Argon2PasswordHasher())
        try:
            with registry.transaction() as services:
                for name, staff in (("admin", True), ("alice", False)):
                    body = {"username": name, "password": f"{name}-password", "is_staff": staff}
                    services.users.create(SYSTEM, body)
        finally:
            registry.dispose()
        yield Deployment(
            url,
            settings,
            process.pid,
            _token(url, "admin", "admin-password"),
            _token(url, "alice", "alice-password"),
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            rest = process.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            rest = process.communicate()[0]
        assert process.returncode == 0, "".join(output) + rest
        assert "stopped" in rest


@pytest.fixture(scope="module")
def deployment(
    fresh_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    blob_root = tmp_path_factory.mktemp("deployment") / "blobs"
    with run_local(fresh_database, blob_root) as started:
        yield started


def _model(d: Deployment) -> int:
    framework = requests.post(
        f"{d.url}/v1/frameworks/create",
        json={"name": f"pytorch-{secrets.token_hex(4)}", "version": "2.4"},
        headers=d.admin,
        timeout=10,
    ).json()
    body = {
        "name": f"resnet-{secrets.token_hex(4)}",
        "description": "",
        "url": "https://example.org/",
        "domain": "ic",
        "licence": "MIT",
        "framework": framework["pk"],
    }
    response = requests.post(
        f"{d.url}/v1/pretrained-models/create", json=body, headers=d.admin, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()["pk"]


def _upload(d: Deployment, pk: int, data: bytes) -> requests.Response:
    headers = {
        **d.admin,
        "Content-Type": "application/data",
        "Content-Disposition": "attachment; filename=data",
    }
    url = f"{d.url}/v1/pretrained-models/{pk}/data"
    return requests.post(url, data=data, headers=headers, timeout=60)


def test_ufdl_client_upload_and_download_through_nginx(deployment: Deployment) -> None:
    d = deployment
    data = os.urandom(5 * 1024 * 1024 + 17)
    pk = _model(d)
    response = _upload(d, pk, data)
    assert response.status_code == 200, response.text
    url = f"{d.url}/v1/pretrained-models/{pk}/download"
    response = requests.post(url, json={"filetype": "data"}, headers=d.user, timeout=60)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == hashlib.sha256(data).hexdigest()
    sha = hashlib.sha256(data).hexdigest()
    assert response.headers["ETag"] == f'"{sha}"'
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="model.data"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert "Last-Modified" in response.headers
    assert "X-Accel-Redirect" not in response.headers


def test_an_upload_is_written_once_nginx_s_file_linked_into_the_store(
    deployment: Deployment,
) -> None:
    d = deployment
    data = os.urandom(8 * 1024 * 1024 + 5)
    pk = _model(d)
    assert len(d.instance_pids()) == 2
    before = d.written_by_instances()
    response = _upload(d, pk, data)
    written = d.written_by_instances() - before
    assert response.status_code == 200, response.text
    sha = hashlib.sha256(data).hexdigest()
    assert response.json()["data_sha256"] == sha
    # nginx wrote the body to its file; the instances wrote none of it.
    assert written < len(data) // 8, written
    blob = d.blob_root / "blobs" / sha[:2] / sha[2:4] / sha
    assert blob.read_bytes() == data
    umask = os.umask(0o022)
    os.umask(umask)
    assert blob.stat().st_mode & 0o777 == 0o666 & ~umask
    assert blob.stat().st_nlink == 1  # nginx's name for it is gone
    assert not any((d.blob_root / "incoming").iterdir())


def test_a_resumable_upload_through_nginx_spreads_its_parts_over_the_instances(
    deployment: Deployment,
) -> None:
    d = deployment
    data = os.urandom(5 * 1024 * 1024 + 17)
    pk = _model(d)
    client = TusClient(f"{d.url}/v1/uploads/", headers=d.admin)
    uploader = client.uploader(
        file_stream=io.BytesIO(data), chunk_size=1024 * 1024, metadata={"model": str(pk)}
    )
    uploader.upload()  # nginx passes the parts in turn to both instances

    model = requests.get(f"{d.url}/v1/pretrained-models/{pk}", headers=d.user, timeout=10).json()
    assert model["data_sha256"] == hashlib.sha256(data).hexdigest()


def test_ranged_and_conditional_downloads_are_served_by_nginx(deployment: Deployment) -> None:
    d = deployment
    data = bytes(range(256)) * 4096
    pk = _model(d)
    assert _upload(d, pk, data).status_code == 200
    url = f"{d.url}/v1/pretrained-models/{pk}/download"
    whole = requests.get(url, headers=d.user, timeout=30)
    etag, modified = whole.headers["ETag"], whole.headers["Last-Modified"]
    for call in (requests.get, requests.post):
        part = call(url, headers={**d.user, "Range": "bytes=1000-1999"}, timeout=30)
        assert part.status_code == 206
        assert part.content == data[1000:2000]
        assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
        assert part.headers["ETag"] == etag
        same = call(url, headers={**d.user, "Range": "bytes=-10", "If-Range": etag}, timeout=30)
        assert same.status_code == 206 and same.content == data[-10:]
        stale = call(url, headers={**d.user, "Range": "bytes=0-9", "If-Range": '"x"'}, timeout=30)
        assert stale.status_code == 200 and stale.content == data
        far = call(url, headers={**d.user, "Range": f"bytes={len(data)}-"}, timeout=30)
        assert far.status_code == 416
        cached = call(url, headers={**d.user, "If-None-Match": etag}, timeout=30)
        assert cached.status_code == 304 and cached.content == b""
        assert cached.headers["ETag"] == etag
        assert whole.headers["Last-Modified"] == modified


def test_anonymous_upload_is_refused_before_its_body(deployment: Deployment) -> None:
    d = deployment
    pk = _model(d)
    host, port = d.url.removeprefix("http://").split(":")
    head = (
        f"POST /v1/pretrained-models/{pk}/data HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Content-Type: application/data\r\n"
        "Content-Disposition: attachment; filename=data\r\n"
        f"Content-Length: {10 * 1024**3}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + b"x" * 65536)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status = answer.split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 401"), answer[:300]
    assert b"application/json" in answer
    # Nothing of it reached the blob folder's staging area.
    staged = [p for p in d.blob_root.rglob("*") if p.relative_to(d.blob_root).parts[0] != "blobs"]
    assert not [p for p in staged if p.is_file()]
    # A normal user's token is refused too (403), an admin's passes.
    response = requests.post(
        f"{d.url}/v1/pretrained-models/{pk}/data",
        data=b"abc",
        headers={**d.user, "Content-Type": "application/data"},
        timeout=10,
    )
    assert response.status_code == 403 and "detail" in response.json()


# Headers that say who sent the answer and when, not what it is.
HOP_HEADERS = {"server", "date", "connection", "keep-alive"}


def _answer_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name.lower(): value for name, value in headers.items() if name.lower() not in HOP_HEADERS
    }


def _exchange(d: Deployment, head: str) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body nginx answers to a request of ``head``
    alone (no body), read until nginx closes the connection."""
    host, port = d.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    heading, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = heading.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status.split()[1]), _answer_headers(headers), body


def test_an_unsatisfiable_range_is_answered_by_nginx_as_by_the_app(
    deployment: Deployment,
) -> None:
    d = deployment
    data = os.urandom(1000)
    pk = _model(d)
    assert _upload(d, pk, data).status_code == 200
    path = f"/v1/pretrained-models/{pk}/download"
    headers = {**d.user, "Range": f"bytes={len(data)}-"}
    # The app itself, on the same database and files, sending the file
    # (no modelhub.accel_redirect): the answer nginx must give.
    registry = Registry(d.settings)
    try:
        app = webtest.TestApp(make_app(registry))
        for method in ("GET", "POST", "HEAD"):
            direct = app.request(path, method=method, headers=headers, expect_errors=True)
            through_nginx = requests.request(method, d.url + path, headers=headers, timeout=30)
            assert direct.status_int == through_nginx.status_code == 416, method
            assert _answer_headers(through_nginx.headers) == _answer_headers(direct.headers)
            assert through_nginx.content == direct.body
            assert through_nginx.headers["Content-Range"] == f"bytes */{len(data)}"
            assert through_nginx.headers["Content-Type"] == "application/json"
            if method != "HEAD":
                assert through_nginx.json() == {"detail": "Requested range not satisfiable."}
    finally:
        registry.dispose()


def test_nginx_s_own_refusals_are_json(deployment: Deployment) -> None:
    d = deployment
    pk = _model(d)
    host = d.url.removeprefix("http://")
    # An admin's upload over client_max_body_size, refused from its declared
    # length before a byte of its body is sent.
    status, headers, body = _exchange(
        d,
        f"POST /v1/pretrained-models/{pk}/data HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {d.admin['Authorization']}\r\nContent-Type: application/data\r\n"
        f"Content-Length: {10**13}\r\n\r\n",
    )
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(body))
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(REPO / "production.ini")
    # client_max_body_size: the instances' max_file_size plus multipart framing.
    limit = int(ini["app:main"]["modelhub.max_file_size"]) + 64 * 1024
    assert json.loads(body) == {
        "detail": f"The request body is larger than the limit of {limit} bytes; nothing is stored."
    }
    # nginx's internal locations are not found from outside, in the app's words.
    for path in ("/_blobs/00/00/" + "0" * 64, "/_errors/401"):
        response = requests.get(d.url + path, headers=d.admin, timeout=10)
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == {"detail": "Not found."}
    # Headers over nginx's buffers: 431, as waitress says, not nginx's 400.
    status, headers, body = _exchange(
        d, f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Padding: {'x' * 20000}\r\n\r\n"
    )
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"detail": "The request headers are too large."}


def test_the_client_address_reaches_the_app(deployment: Deployment) -> None:
    d = deployment
    # The login throttle counts per client address: the address nginx saw,
    # not a forged X-Forwarded-For, and not nginx's own.
    forged = {"X-Forwarded-For": "203.0.113.9"}
    body = {"username": "admin", "password": "wrong"}
    statuses = [
        requests.post(f"{d.url}/v1/auth/obtain", json=body, headers=forged, timeout=10).status_code
        for _ in range(40)
    ]
    assert 429 in statuses, statuses
    wait = time.monotonic()
    # ...from 127.0.0.1, the real address: refused too, though forged differently.
    again = requests.post(
        f"{d.url}/v1/auth/obtain",
        json=body,
        headers={"X-Forwarded-For": "198.51.100.7"},
        timeout=10,
    )
    assert again.status_code == 429 and time.monotonic() - wait < 10


def test_the_login_throttle_holds_across_the_instances(deployment: Deployment) -> None:
    # nginx spreads the logins over both instances; the counts they share
    # refuse the first attempt past the per-username limit, not the 20th.
    body = {"username": "alice", "password": "wrong"}
    limit = Settings("sqlite://", Path("."), "k").login_failures_per_username
    statuses = [
        requests.post(f"{deployment.url}/v1/auth/obtain", json=body, timeout=10).status_code
        for _ in range(limit + 1)
    ]
    assert statuses == [401] * limit + [429], statuses


def test_health_and_metrics_through_nginx(deployment: Deployment) -> None:
    health = requests.get(f"{deployment.url}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    requests.get(f"{deployment.url}/v1/frameworks/1", headers=deployment.admin, timeout=10)
    # Each instance exposes its own figures; together they saw the request.
    scraped = [requests.get(f"{deployment.url}/metrics", timeout=10) for _ in range(2)]
    assert all(r.status_code == 200 for r in scraped)
    assert all("modelhub_http_requests" in r.text for r in scraped)


def test_the_s3_topology_serves_the_ufdl_client(
    postgres_server_url: str, s3_server: S3Server, tmp_path: Path
) -> None:
    """``--s3 URL``: the files live in the bucket, and the UFDL client's
    upload and download work unchanged (sent by the app: nginx cannot read
    the bucket)."""
    bucket = new_bucket(s3_server)
    name = next(bucket)
    try:
        with (
            empty_database(postgres_server_url, "modelhub_deploy_s3") as database,
            run_local(
                database,
                tmp_path / "blobs",
                "--s3",
                s3_server.url,
                MODELHUB_S3_BUCKET=name,
                **s3_server.environ(),
            ) as d,
        ):
            data = os.urandom(3 * 1024 * 1024 + 1)
            sha = hashlib.sha256(data).hexdigest()
            pk = _model(d)
            response = _upload(d, pk, data)
            assert response.status_code == 200, response.text
            assert response.json()["data_sha256"] == sha
            url = f"{d.url}/v1/pretrained-models/{pk}/download"
            response = requests.post(url, json={"filetype": "data"}, headers=d.user, timeout=60)
            assert response.status_code == 200
            assert hashlib.sha256(response.content).hexdigest() == sha
            assert response.headers["ETag"] == f'"{sha}"'
            part = requests.get(url, headers={**d.user, "Range": "bytes=10-19"}, timeout=30)
            assert part.status_code == 206 and part.content == data[10:20]
            keys = [
                item["Key"]
                for item in s3_server.client().list_objects_v2(Bucket=name).get("Contents", ())
            ]
            assert any(key.endswith(sha) for key in keys), keys
            assert not (tmp_path / "blobs" / "blobs").exists() or not any(
                (tmp_path / "blobs" / "blobs").rglob("*" + sha)
            )
    finally:
        bucket.close()
