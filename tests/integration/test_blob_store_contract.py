"""The blob store contract, written once, run against every implementation.

The in-memory fake used by the unit tests and the filesystem and S3 stores
used in production must behave alike, so the unit tests prove something
real. The S3 store runs against moto's server, or the server named by
``MODELHUB_TEST_S3_URL`` (see ``s3_server.py``).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.filesystem import FileBlobStore
from adapters.memory import MemoryBlobStore
from adapters.s3 import S3BlobStore
from domain.errors import Busy, NotFound, TooLarge
from domain.model import BlobRef
from domain.ports import BlobStore

CHUNK = 64
DATA = bytes(range(256)) * 5 + b"tail"  # 1284 bytes: many chunks and a short last one


@dataclass
class Subject:
    """A store plus ways to see what it keeps, whatever its kind."""

    store: BlobStore
    staging_count: Callable[[], int]
    blob_count: Callable[[], int]


def _files_under(path: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(path))


def _memory(_: Path) -> Subject:
    store = MemoryBlobStore(chunk_size=CHUNK)
    return Subject(store, lambda: len(store.staged), lambda: len(store.blobs))


def _filesystem(tmp_path: Path) -> Subject:
    store = FileBlobStore(tmp_path / "store", chunk_size=CHUNK)
    return Subject(
        store,
        lambda: _files_under(store.tmp_dir),
        lambda: _files_under(store.blob_dir),
    )


def _s3(tmp_path: Path, request: pytest.FixtureRequest) -> Subject:
    server, bucket = request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket")
    client = server.client()
    store = S3BlobStore(client, bucket, tmp_path / "staging", prefix="hub/", chunk_size=CHUNK)

    def objects() -> int:
        listing = client.list_objects_v2(Bucket=bucket, Prefix="hub/blobs/")
        return int(listing.get("KeyCount", 0))

    return Subject(store, lambda: _files_under(store.staging_dir), objects)


@pytest.fixture(params=[_memory, _filesystem, _s3], ids=["memory", "filesystem", "s3"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Subject:
    if request.param is _s3:
        return _s3(tmp_path, request)
    return request.param(tmp_path)


@pytest.fixture
def store(subject: Subject) -> BlobStore:
    return subject.store


def expected_ref(data: bytes) -> BlobRef:
    return BlobRef(hashlib.sha256(data).hexdigest(), len(data))


def put(store: BlobStore, data: bytes) -> BlobRef:
    return store.commit(store.stage(io.BytesIO(data)))


def read_all(store: BlobStore, ref: BlobRef) -> bytes:
    with store.open(ref) as f:
        return f.read()


class RecordingStream(io.RawIOBase):
    """A readable stream that records every size it is asked for."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.sizes: list[int | None] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        self.sizes.append(size)
        return self._data.read(size)


class EndlessStream(io.RawIOBase):
    """Zero bytes forever: reading it all would never end."""

    def __init__(self) -> None:
        self.delivered = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        assert size is not None and size > 0, "the store asked for the whole stream"
        self.delivered += size
        return bytes(size)


def test_stage_and_commit_round_trip(store: BlobStore) -> None:
    staged = store.stage(io.BytesIO(DATA))
    assert staged.ref == expected_ref(DATA)

    ref = store.commit(staged)

    assert ref == expected_ref(DATA)
    assert store.exists(ref)
    assert read_all(store, ref) == DATA


def test_staged_bytes_are_invisible_until_committed(store: BlobStore) -> None:
    staged = store.stage(io.BytesIO(DATA))

    assert not store.exists(staged.ref)
    with pytest.raises(NotFound):
        store.open(staged.ref)


def test_open_gives_a_seekable_file(store: BlobStore) -> None:
    ref = put(store, DATA)

    with store.open(ref) as f:
        f.seek(1000)
        assert f.read(4) == DATA[1000:1004]
        f.seek(0)
        assert f.read() == DATA


def test_stage_reads_in_chunks_never_all_at_once(store: BlobStore) -> None:
    stream = RecordingStream(DATA)

    store.stage(stream)

    assert len(stream.sizes) >= len(DATA) // CHUNK
    assert all(size is not None and 0 < size <= CHUNK for size in stream.sizes), stream.sizes


def test_identical_bytes_are_stored_once(subject: Subject) -> None:
    store = subject.store
    first = put(store, DATA)
    second = put(store, DATA)

    assert first == second == expected_ref(DATA)
    assert subject.blob_count() == 1
    assert subject.staging_count() == 0
    assert read_all(store, first) == DATA


def test_commit_is_idempotent(subject: Subject) -> None:
    staged = subject.store.stage(io.BytesIO(DATA))
    first = subject.store.commit(staged)

    again = subject.store.commit(staged)

    assert again == first == expected_ref(DATA)
    assert subject.blob_count() == 1
    assert read_all(subject.store, again) == DATA


def test_different_bytes_are_different_blobs(subject: Subject) -> None:
    a, b = put(subject.store, b"model A"), put(subject.store, b"model B")

    assert a != b
    assert subject.blob_count() == 2
    assert read_all(subject.store, a) == b"model A"
    assert read_all(subject.store, b) == b"model B"


def test_exactly_max_size_is_accepted(store: BlobStore) -> None:
    staged = store.stage(io.BytesIO(DATA), max_size=len(DATA))

    assert staged.ref == expected_ref(DATA)


def test_too_large_keeps_nothing(subject: Subject) -> None:
    with pytest.raises(TooLarge):
        subject.store.stage(io.BytesIO(DATA), max_size=len(DATA) - 1)

    assert subject.staging_count() == 0
    assert subject.blob_count() == 0
    assert not subject.store.exists(expected_ref(DATA))


def test_too_large_stops_reading_once_past_the_limit(subject: Subject) -> None:
    stream = EndlessStream()

    with pytest.raises(TooLarge):
        subject.store.stage(stream, max_size=10 * CHUNK)

    assert stream.delivered <= 11 * CHUNK
    assert subject.staging_count() == 0


def test_discard_keeps_nothing(subject: Subject) -> None:
    staged = subject.store.stage(io.BytesIO(DATA))

    subject.store.discard(staged)
    subject.store.discard(staged)  # already gone: no error

    assert subject.staging_count() == 0
    assert subject.blob_count() == 0
    assert not subject.store.exists(staged.ref)


def test_discard_after_commit_keeps_the_blob(store: BlobStore) -> None:
    staged = store.stage(io.BytesIO(DATA))
    ref = store.commit(staged)

    store.discard(staged)

    assert read_all(store, ref) == DATA


def test_delete_removes_the_blob(subject: Subject) -> None:
    ref = put(subject.store, DATA)

    subject.store.delete(ref)

    assert not subject.store.exists(ref)
    assert subject.blob_count() == 0
    with pytest.raises(NotFound):
        subject.store.open(ref)


def test_delete_of_an_absent_blob_is_a_no_op(store: BlobStore) -> None:
    kept = put(store, b"kept")

    store.delete(expected_ref(b"never stored"))

    assert read_all(store, kept) == b"kept"


def test_bytes_can_be_stored_again_after_delete(store: BlobStore) -> None:
    ref = put(store, DATA)
    store.delete(ref)

    assert put(store, DATA) == ref
    assert read_all(store, ref) == DATA


def test_open_missing_raises_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.open(expected_ref(b"never stored"))
    assert not store.exists(expected_ref(b"never stored"))


def test_empty_stream_stages_a_zero_size_ref(store: BlobStore) -> None:
    staged = store.stage(io.BytesIO(b""))

    assert staged.ref == BlobRef(hashlib.sha256(b"").hexdigest(), 0)
    assert read_all(store, store.commit(staged)) == b""


def test_stored_lists_blobs_and_temporaries_lists_staging_files(store: BlobStore) -> None:
    ref = put(store, DATA)
    staged = store.stage(io.BytesIO(b"in progress"))
    (blob,) = list(store.stored())
    assert blob.ref == ref and blob.modified.tzinfo is not None
    (temporary,) = list(store.temporaries())
    assert temporary.size == len(b"in progress") and temporary.modified.tzinfo is not None
    store.remove_temporary(temporary.name)
    assert list(store.temporaries()) == []
    with pytest.raises(FileNotFoundError):
        store.commit(staged)
    store.remove_temporary(temporary.name)  # already gone: a no-op
    store.delete(ref)
    assert list(store.stored()) == []


# -- staging files that grow part by part (resumable uploads) -----------------

PART = "ab12" * 8


def staged_in_parts(store: BlobStore, name: str, *parts: bytes) -> None:
    store.begin_staging(name)
    for part in parts:
        with store.resume_staging(name) as staging:
            assert staging.append(io.BytesIO(part)) == len(part)
            staging.sync()


def test_parts_become_one_blob_without_a_copy(subject: Subject) -> None:
    store = subject.store
    staged_in_parts(store, PART, DATA[:100], DATA[100:1000], DATA[1000:])

    with store.resume_staging(PART) as staging:
        assert staging.size() == len(DATA)
        staged = staging.finish()
    assert staged.ref == expected_ref(DATA)
    assert not store.exists(staged.ref)
    ref = store.commit(staged)

    assert read_all(store, ref) == DATA
    assert subject.staging_count() == 0 and subject.blob_count() == 1
    with pytest.raises(NotFound), store.resume_staging(PART):
        pass


def test_parts_of_bytes_stored_already_are_stored_once(subject: Subject) -> None:
    put(subject.store, DATA)
    staged_in_parts(subject.store, PART, DATA[:700], DATA[700:])

    with subject.store.resume_staging(PART) as staging:
        ref = subject.store.commit(staging.finish())

    assert ref == expected_ref(DATA)
    assert subject.blob_count() == 1 and subject.staging_count() == 0


def test_a_part_is_read_in_chunks_and_truncate_drops_what_follows(store: BlobStore) -> None:
    store.begin_staging(PART)
    stream = RecordingStream(DATA)
    with store.resume_staging(PART) as staging:
        staging.append(stream)
        staging.truncate(1000)
        assert staging.size() == 1000
        staging.append(io.BytesIO(b"end"))
        staged = staging.finish()

    assert all(size is not None and 0 < size <= CHUNK for size in stream.sizes), stream.sizes
    assert staged.ref == expected_ref(DATA[:1000] + b"end")
    assert read_all(store, store.commit(staged)) == DATA[:1000] + b"end"


def test_one_writer_at_a_time(store: BlobStore) -> None:
    store.begin_staging(PART)
    with store.resume_staging(PART), pytest.raises(Busy), store.resume_staging(PART):
        pass
    with store.resume_staging(PART) as staging:  # released: the next writer gets it
        assert staging.size() == 0


def test_a_removed_or_missing_staging_file_is_not_found(subject: Subject) -> None:
    store = subject.store
    with pytest.raises(NotFound), store.resume_staging("0" * 32):
        pass
    staged_in_parts(store, PART, b"some")
    with pytest.raises(FileExistsError):
        store.begin_staging(PART)

    store.remove_staging(PART)
    store.remove_staging(PART)  # already gone: no error

    assert subject.staging_count() == 0
    with pytest.raises(NotFound), store.resume_staging(PART):
        pass


def test_a_staging_file_removed_while_written_keeps_nothing(subject: Subject) -> None:
    store = subject.store
    staged_in_parts(store, PART, b"first part")
    with store.resume_staging(PART) as staging:
        store.remove_staging(PART)
        staging.append(io.BytesIO(b" and more"))
        staged = staging.finish()
    with pytest.raises(FileNotFoundError):
        store.commit(staged)
    assert subject.staging_count() == 0 and subject.blob_count() == 0


def test_a_growing_staging_file_is_a_temporary_named_as_staged(store: BlobStore) -> None:
    staged_in_parts(store, PART, b"in progress")

    (temporary,) = list(store.temporaries())

    assert temporary.staged_as == PART and temporary.size == len(b"in progress")
    store.remove_temporary(temporary.name)
    assert list(store.temporaries()) == []
