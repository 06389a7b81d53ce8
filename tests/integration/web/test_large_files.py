"""The file path through a real waitress server: ranges, conditional
requests, downloads that never block a worker, atomic replacement, races."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from typing import BinaryIO

import requests

from adapters.filesystem import FileBlobStore
from domain.model import BlobRef
from tests.integration.web.conftest import LiveServer

MIB = 1024 * 1024


def _download(server: LiveServer, pk: int, **headers: str) -> requests.Response:
    return server.session.get(
        server.api(f"/pretrained-models/{pk}/download"), headers=headers, timeout=60
    )


def test_ranges_and_conditions(start_server: Callable[..., LiveServer]) -> None:
    server = start_server()
    pk = server.model()
    data = os.urandom(3 * MIB + 17)
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    assert server.upload(pk, data).status_code == 200
    size = len(data)

    full = _download(server, pk)
    assert full.status_code == 200 and full.content == data
    assert full.headers["ETag"] == etag and full.headers["Accept-Ranges"] == "bytes"

    for header, start, stop in (
        ("bytes=0-99", 0, 100),
        (f"bytes={MIB}-{2 * MIB - 1}", MIB, 2 * MIB),
        (f"bytes={size - 10}-{size - 1}", size - 10, size),
        (f"bytes={size - 5}-", size - 5, size),
        ("bytes=-1000", size - 1000, size),
        (f"bytes=0-{size + 100}", 0, size),
    ):
        part = _download(server, pk, Range=header)
        assert part.status_code == 206, header
        assert part.content == data[start:stop], header
        assert part.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{size}"
        assert part.headers["Content-Length"] == str(stop - start)

    unsatisfiable = _download(server, pk, Range=f"bytes={size}-")
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["Content-Range"] == f"bytes */{size}"

    assert _download(server, pk, **{"If-None-Match": etag}).status_code == 304
    assert _download(server, pk, **{"If-None-Match": '"other"'}).status_code == 200
    fresh = _download(server, pk, Range="bytes=0-9", **{"If-Range": etag})
    assert fresh.status_code == 206 and fresh.content == data[:10]
    stale = _download(server, pk, Range="bytes=0-9", **{"If-Range": '"stale"'})
    assert stale.status_code == 200 and stale.content == data

    head = server.session.head(server.api(f"/pretrained-models/{pk}/download"), timeout=30)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(size) and head.headers["ETag"] == etag

    post = server.session.post(
        server.api(f"/pretrained-models/{pk}/download"),
        json={"filetype": "data", "params": {}},
        headers={"Range": "bytes=-3"},
        timeout=30,
    )
    assert post.status_code == 206 and post.content == data[-3:]


class CountingStore(FileBlobStore):
    """Counts the bytes read from opened blobs."""

    bytes_read = 0

    def open(self, ref: BlobRef) -> BinaryIO:
        return _CountingFile(super().open(ref), self)


class _CountingFile:
    def __init__(self, file: BinaryIO, store: CountingStore) -> None:
        self._file, self._store = file, store

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._store.bytes_read += len(data)
        return data

    def __getattr__(self, name: str) -> object:
        return getattr(self._file, name)


def test_a_resumed_download_seeks_instead_of_reading(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server()
    store = CountingStore(server.blob_root)
    server.registry.store = store
    pk = server.model()
    data = os.urandom(16 * MIB)
    assert server.upload(pk, data).status_code == 200

    store.bytes_read = 0
    tail = _download(server, pk, Range=f"bytes={15 * MIB}-")
    assert tail.status_code == 206 and tail.content == data[15 * MIB :]
    # Only the requested mebibyte comes off the disk (give or take a block).
    assert store.bytes_read <= 2 * MIB


def test_a_slow_download_holds_no_worker_thread(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(threads=1)
    pk = server.model()
    assert server.upload(pk, os.urandom(64 * MIB)).status_code == 200
    downloads = []
    for headers in ({}, {"Range": f"bytes={MIB}-"}):
        # Start downloads and read almost nothing: the rest waits in the socket.
        response = requests.get(
            server.api(f"/pretrained-models/{pk}/download"),
            headers={**server.session.headers, **headers},
            stream=True,
            timeout=30,
        )
        next(response.iter_content(64 * 1024))
        downloads.append(response)
    # With the only worker thread taken by a download, this would time out.
    meta = server.session.get(server.api(f"/pretrained-models/{pk}"), timeout=5)
    assert meta.status_code == 200
    for response in downloads:
        response.close()


def _start_reading(server: LiveServer, pk: int) -> tuple[requests.Response, hashlib._Hash]:
    response = server.session.get(
        server.api(f"/pretrained-models/{pk}/download"), stream=True, timeout=60
    )
    digest = hashlib.sha256()
    chunks = response.iter_content(256 * 1024)
    digest.update(next(chunks))
    response._chunks = chunks  # type: ignore[attr-defined]
    return response, digest


def _finish_reading(response: requests.Response, digest: hashlib._Hash) -> str:
    for chunk in response._chunks:  # type: ignore[attr-defined]
        digest.update(chunk)
    return digest.hexdigest()


def test_downloads_in_progress_survive_replace_and_hard_delete(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server()
    old, new = os.urandom(32 * MIB), os.urandom(32 * MIB)
    first, second = server.model("first"), server.model("second")
    server.upload(first, old)
    server.upload(second, old)

    replaced = _start_reading(server, first)
    deleted = _start_reading(server, second)
    assert server.upload(first, new).status_code == 200
    assert server.session.delete(server.api(f"/pretrained-models/{second}/hard")).ok

    assert _finish_reading(*replaced) == hashlib.sha256(old).hexdigest()
    assert _finish_reading(*deleted) == hashlib.sha256(old).hexdigest()
    # The old bytes left the disk once nothing referenced them.
    assert [p.read_bytes() == new for p in server.blob_files()] == [True]
    assert _download(server, first).content == new


def test_concurrent_identical_uploads_store_one_blob(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(threads=4)
    data = os.urandom(4 * MIB)
    pks = [server.model(f"m{i}") for i in range(4)]
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda pk=pk: results.append(server.upload(pk, data).status_code))
        for pk in pks
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [200] * 4
    assert len(server.blob_files()) == 1
    digest = hashlib.sha256(data).hexdigest()
    with server.registry.transaction() as services:
        assert services.uow.blobs.all().get(digest, 0) == 4


def test_hard_delete_racing_an_upload_of_the_same_bytes(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(threads=4)
    data = os.urandom(256 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    for round_ in range(15):
        doomed, keeper = server.model(f"doomed{round_}"), server.model(f"keeper{round_}")
        assert server.upload(doomed, data).status_code == 200
        statuses: list[int] = []
        delete = threading.Thread(
            target=lambda pk=doomed, out=statuses: out.append(
                server.session.delete(server.api(f"/pretrained-models/{pk}/hard")).status_code
            )
        )
        upload = threading.Thread(
            target=lambda pk=keeper, out=statuses: out.append(server.upload(pk, data).status_code)
        )
        delete.start()
        upload.start()
        delete.join(timeout=60)
        upload.join(timeout=60)
        assert sorted(statuses) == [200, 200]
        model = server.session.get(server.api(f"/pretrained-models/{keeper}"), timeout=30).json()
        assert model["data"] is True
        body = _download(server, keeper)
        assert body.status_code == 200 and hashlib.sha256(body.content).hexdigest() == digest
        # Clean up for the next round: the blob must go with its last model.
        server.session.delete(server.api(f"/pretrained-models/{keeper}/hard"), timeout=30)
        assert server.blob_files() == []


def test_too_large_upload_stores_nothing(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(max_file_size=MIB)
    pk = server.model()
    response = server.upload(pk, os.urandom(MIB + 1))
    assert response.status_code == 413 and "detail" in response.json()

    def unsized():  # chunked transfer: no Content-Length to reject early
        for _ in range(3):
            yield os.urandom(MIB // 2)

    assert server.upload(pk, unsized()).status_code == 413
    assert [p for p in server.blob_root.rglob("*") if p.is_file()] == []
    assert server.session.get(server.api(f"/pretrained-models/{pk}")).json()["data"] is False
