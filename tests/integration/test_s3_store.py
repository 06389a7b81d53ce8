"""What the S3 store does beyond the blob store contract: reading as the web
server sends a file, presigned URLs, and multipart leftovers."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from adapters.s3 import S3BlobStore
from domain.errors import NotFound
from domain.model import BlobRef
from tests.integration.s3_server import S3Server

DATA = bytes(range(256)) * 4096 + b"end"  # 1 MiB and 3 bytes


@pytest.fixture
def client(s3_server: S3Server) -> Any:
    return s3_server.client()


@pytest.fixture
def store(client: Any, s3_bucket: str, tmp_path: Path) -> S3BlobStore:
    return S3BlobStore(client, s3_bucket, tmp_path / "staging", prefix="p/")


def test_objects_are_keyed_by_their_hash_under_the_prefix(
    store: S3BlobStore, client: Any, s3_bucket: str
) -> None:
    ref = store.commit(store.stage(io.BytesIO(DATA)))
    sha = hashlib.sha256(DATA).hexdigest()

    head = client.head_object(Bucket=s3_bucket, Key=f"p/blobs/{sha[:2]}/{sha[2:4]}/{sha}")

    assert head["ContentLength"] == len(DATA) == ref.size
    assert list(store.staging_dir.iterdir()) == []


def test_reading_as_waitress_sends_a_file(store: S3BlobStore) -> None:
    """Read a block, seek back, skip what was sent, read on: the bytes come
    right, and memory holds about one block."""
    ref = store.commit(store.stage(io.BytesIO(DATA)))
    out = bytearray()
    with store.open(ref) as f:
        f.seek(1000)
        while True:
            pos = f.tell()
            block = f.read(65536)
            if not block:
                break
            f.seek(pos)
            sent = len(block) // 3 + 1  # the socket takes part of it
            f.seek(sent, io.SEEK_CUR)
            out += block[:sent]
            assert len(f._last) <= 65536  # type: ignore[attr-defined]
    assert bytes(out) == DATA[1000:]


def test_seeking_to_the_end_and_reading_past_it(store: S3BlobStore) -> None:
    ref = store.commit(store.stage(io.BytesIO(DATA)))
    with store.open(ref) as f:
        assert f.seek(0, io.SEEK_END) == len(DATA)
        assert f.read(10) == b""
        f.seek(-3, io.SEEK_END)
        assert f.read() == b"end"


def test_a_presigned_url_serves_the_bytes_as_an_attachment(store: S3BlobStore) -> None:
    ref = store.commit(store.stage(io.BytesIO(DATA)))

    url = store.public_url(ref, "model.data", timedelta(seconds=60))

    assert url is not None
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["Content-Disposition"] == 'attachment; filename="model.data"'
    ranged = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=30)
    assert (ranged.status_code, ranged.content) == (206, DATA[10:20])


def test_an_object_deleted_under_a_reader_is_not_found(store: S3BlobStore) -> None:
    ref = store.commit(store.stage(io.BytesIO(DATA)))
    store.delete(ref)
    with pytest.raises(NotFound):
        store.open(ref)
    store.delete(BlobRef(ref.sha256, ref.size))  # absent: a no-op


def test_an_incomplete_multipart_upload_is_a_temporary(
    store: S3BlobStore, client: Any, s3_bucket: str
) -> None:
    sha = hashlib.sha256(b"crashed").hexdigest()
    key = f"p/blobs/{sha[:2]}/{sha[2:4]}/{sha}"
    upload = client.create_multipart_upload(Bucket=s3_bucket, Key=key)
    client.upload_part(
        Bucket=s3_bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 100
    )

    (temporary,) = list(store.temporaries())

    assert temporary.name == f"multipart:{key}:{upload['UploadId']}"
    assert temporary.size == 100 and temporary.modified.tzinfo is not None
    store.remove_temporary(temporary.name)
    assert list(store.temporaries()) == []
    store.remove_temporary(temporary.name)  # already gone: a no-op
    with pytest.raises(ValueError):
        store.remove_temporary("multipart:elsewhere/key:id")
