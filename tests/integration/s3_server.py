"""An S3-compatible server for the tests: moto's server in a process of its
own, or any server named by the environment.

``MODELHUB_TEST_S3_URL`` (e.g. ``http://127.0.0.1:9000`` for MinIO) runs the
S3 tests against that server instead of moto, with the credentials of
``MODELHUB_TEST_S3_ACCESS_KEY`` and ``MODELHUB_TEST_S3_SECRET_KEY`` (default
``test``/``test``) and the region of ``MODELHUB_TEST_S3_REGION`` (default
``us-east-1``). Each test gets a bucket of its own, named
``MODELHUB_TEST_S3_BUCKET_PREFIX`` (default ``modelhub-test-``) plus a random
suffix, emptied and removed afterwards.

Without a server (moto missing or not starting) the S3 tests skip with the
reason, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.s3 import make_client


@dataclass
class S3Server:
    url: str
    region: str
    access_key: str
    secret_key: str

    def environ(self) -> dict[str, str]:
        """The environment variables boto3 reads its credentials from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self) -> Any:
        return make_client(self.url, self.region)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str, timeout: float) -> bool:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return True
        except requests.RequestException:
            time.sleep(0.1)
    return False


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def s3_server() -> Iterator[S3Server]:
    """The session's S3 server (the body of the ``s3_server`` fixture)."""
    env = os.environ
    region = env.get("MODELHUB_TEST_S3_REGION", "us-east-1")
    access = env.get("MODELHUB_TEST_S3_ACCESS_KEY", "test")
    secret = env.get("MODELHUB_TEST_S3_SECRET_KEY", "test")
    if env.get("MODELHUB_TEST_S3_URL"):
        yield S3Server(env["MODELHUB_TEST_S3_URL"].rstrip("/"), region, access, secret)
        return
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        _unavailable(f"moto[server] is not installed: {exc}")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        if not _answers(url, 30):
            _unavailable(f"moto's server did not start on port {port}")
        yield S3Server(url, region, access, secret)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def new_bucket(server: S3Server) -> Iterator[str]:
    """A fresh bucket, emptied and removed afterwards."""
    client = server.client()
    name = (
        os.environ.get("MODELHUB_TEST_S3_BUCKET_PREFIX", "modelhub-test-") + uuid.uuid4().hex[:12]
    )
    if server.region == "us-east-1":
        client.create_bucket(Bucket=name)
    else:
        client.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": server.region}
        )
    try:
        yield name
    finally:
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=name):
            for upload in page.get("Uploads", ()):
                client.abort_multipart_upload(
                    Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"]
                )
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", ()):
                client.delete_object(Bucket=name, Key=item["Key"])
        client.delete_bucket(Bucket=name)
