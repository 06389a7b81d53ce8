"""A tus client nobody here wrote (tuspy) against the modelhub server
(waitress with its body gate) on a free port: an upload in parts, and one
resumed from the server's offset after its connection was really cut."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.storage.filestorage import FileStorage
from tusclient.uploader import Uploader

from domain.permissions import SYSTEM
from entrypoints.web import make_app
from tests.integration.web.conftest import create_model, make_registry
from tests.integration.web.gated_server import GatedServer, start_gated
from tests.integration.web.tus_proxy import CuttingProxy

MIB = 1024 * 1024
CHUNK = MIB
SIZE = 6 * MIB + 123


class KeptOpen(io.BytesIO):
    """A file's bytes that tuspy may "close" (its URL storage does) and read again."""

    def close(self) -> None:
        pass


class Sha256Uploader(Uploader):
    """tuspy's uploader with the checksum algorithm this server takes."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


@dataclass
class Live:
    server: GatedServer
    token: str
    session: requests.Session

    def client(self, url: str | None = None) -> TusClient:
        base = url or self.server.url
        return TusClient(f"{base}/v1/uploads/", headers={"Authorization": f"Bearer {self.token}"})

    def model(self) -> int:
        return create_model(self.session, self.server.url)["pk"]

    def stored(self, pk: int) -> tuple[str, str]:
        """The model's ``data_sha256``, and the SHA-256 of its download."""
        url = f"{self.server.url}/v1/pretrained-models/{pk}"
        model = self.session.get(url, timeout=30).json()
        download = self.session.get(f"{url}/download", timeout=60)
        assert download.status_code == 200, download.text
        return model["data_sha256"], hashlib.sha256(download.content).hexdigest()


@pytest.fixture
def live(sqlite_url: str, tmp_path: Path) -> Iterator[Live]:
    registry = make_registry(sqlite_url, tmp_path / "blobs", max_file_size=64 * MIB)
    with registry.transaction() as services:
        services.users.create(SYSTEM, {"username": "admin", "password": "pw", "is_staff": True})
    # Parts stay in memory, as the ini files' inbuf_overflow has it.
    server = start_gated(make_app(registry), inbuf_overflow=2 * CHUNK)
    session = requests.Session()
    login = {"username": "admin", "password": "pw"}
    token = session.post(f"{server.url}/v1/auth/obtain", json=login, timeout=30).json()["access"]
    session.headers["Authorization"] = f"Bearer {token}"
    yield Live(server, token, session)
    session.close()
    server.stop()
    registry.dispose()


@pytest.fixture
def model_file(tmp_path: Path) -> tuple[Path, str]:
    data = os.urandom(SIZE)
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_tuspy_uploads_a_model_file_in_parts(live: Live, model_file: tuple[Path, str]) -> None:
    path, sha256 = model_file
    pk = live.model()
    with path.open("rb") as file:  # tuspy leaves a file it opened itself open
        uploader = Sha256Uploader(
            file_stream=file,
            client=live.client(),
            chunk_size=CHUNK,
            metadata={"model": str(pk), "filename": path.name},
            upload_checksum=True,
        )
        uploader.upload()

    assert uploader.offset == SIZE
    assert live.stored(pk) == (sha256, sha256)
    gone = requests.head(uploader.url, headers=uploader.get_headers(), timeout=30)
    assert gone.status_code == 404


def test_tuspy_resumes_from_the_servers_offset_after_its_connection_was_cut(
    live: Live, model_file: tuple[Path, str], tmp_path: Path
) -> None:
    path, sha256 = model_file
    pk = live.model()
    proxy = CuttingProxy(live.server.port, cut_after=SIZE // 2)
    urls = FileStorage(str(tmp_path / "tus-urls.json"))
    metadata = {"model": str(pk), "filename": path.name}
    try:
        first = live.client(proxy.url).uploader(
            file_stream=KeptOpen(path.read_bytes()),
            chunk_size=CHUNK,
            metadata=metadata,
            store_url=True,
            url_storage=urls,
        )
        with pytest.raises((TusUploadFailed, TusCommunicationError)):
            first.upload()
        assert proxy.cut.is_set()
        sent_before = proxy.forwarded

        # A new client finds the upload's URL in its storage and asks the
        # server where it stands (HEAD): whole parts only, never from zero.
        again = live.client(proxy.url).uploader(
            file_stream=KeptOpen(path.read_bytes()),
            chunk_size=CHUNK,
            metadata=metadata,
            store_url=True,
            url_storage=urls,
        )
        resumed_at = again.offset
        assert again.url == first.url
        assert 0 < resumed_at < SIZE and resumed_at % CHUNK == 0
        again.upload()
    finally:
        proxy.close()
        urls.close()

    assert live.stored(pk) == (sha256, sha256)
    resent = proxy.forwarded - sent_before
    assert resent < SIZE - resumed_at + 64 * 1024  # the rest and the headers, no more
