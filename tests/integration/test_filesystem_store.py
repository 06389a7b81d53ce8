"""Facts about the filesystem blob store that the in-memory fake cannot show."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import re
import signal
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters import filesystem, staging_files
from adapters.filesystem import FileBlobStore
from domain.errors import Busy, NotFound
from domain.model import BlobRef

CHUNK = 64
DATA = b"0123456789abcdef" * 100


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(root: Path) -> FileBlobStore:
    return FileBlobStore(root, chunk_size=CHUNK)


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def put(store: FileBlobStore, data: bytes) -> BlobRef:
    return store.commit(store.stage(io.BytesIO(data)))


def blob_path(store: FileBlobStore, ref: BlobRef) -> Path:
    """Where the documented layout puts a blob: ``blobs/ab/cd/abcd...``."""
    sha = ref.sha256
    return store.root / "blobs" / sha[:2] / sha[2:4] / sha


class FailingStream(io.RawIOBase):
    """Delivers a few chunks, then fails like a dropped connection."""

    def __init__(self, good_reads: int) -> None:
        self.good_reads = good_reads

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self.good_reads == 0:
            raise ConnectionResetError("client went away")
        self.good_reads -= 1
        return b"x" * (size or 1)


def test_nothing_is_created_before_the_first_upload(root: Path) -> None:
    store = FileBlobStore(root)

    assert not root.exists()
    assert list(store.temporary_files()) == []
    assert not store.exists(BlobRef(hashlib.sha256(b"").hexdigest(), 0))


def test_blob_lives_under_its_hash_with_two_fan_out_levels(
    store: FileBlobStore, root: Path
) -> None:
    ref = put(store, DATA)

    sha = hashlib.sha256(DATA).hexdigest()
    expected = root / "blobs" / sha[:2] / sha[2:4] / sha
    assert ref.sha256 == sha
    assert expected.read_bytes() == DATA
    assert files_under(root) == [expected]


def test_staging_file_is_in_tmp_with_a_recognisable_name(store: FileBlobStore, root: Path) -> None:
    staged = store.stage(io.BytesIO(DATA))

    temp = Path(staged.handle)
    assert temp.parent == root / "tmp"
    assert re.fullmatch(r"upload-[0-9a-f]+\.part", temp.name)
    assert temp.read_bytes() == DATA
    assert files_under(root / "blobs") == []
    assert list(store.temporary_files()) == [(str(temp), temp.stat().st_mtime)]


def test_commit_and_discard_leave_no_temporary_files(store: FileBlobStore, root: Path) -> None:
    store.commit(store.stage(io.BytesIO(b"kept")))
    store.discard(store.stage(io.BytesIO(b"dropped")))

    assert list(store.temporary_files()) == []
    assert files_under(root / "tmp") == []


def test_temporary_files_ignores_foreign_files(store: FileBlobStore, root: Path) -> None:
    staged = store.stage(io.BytesIO(DATA))
    (root / "tmp" / "README").write_text("not an upload")

    assert [path for path, _ in store.temporary_files()] == [staged.handle]


def test_reader_opened_before_delete_reads_everything(store: FileBlobStore) -> None:
    ref = put(store, DATA)
    with store.open(ref) as reader:
        first = reader.read(10)

        store.delete(ref)
        assert not store.exists(ref)

        assert first + reader.read() == DATA


def test_identical_bytes_keep_the_first_file(store: FileBlobStore) -> None:
    ref = put(store, DATA)
    inode = os.stat(blob_path(store, ref)).st_ino

    with store.open(ref) as reader:
        assert put(store, DATA) == ref
        assert reader.read() == DATA

    assert os.stat(blob_path(store, ref)).st_ino == inode
    assert list(store.temporary_files()) == []


def test_stream_failing_midway_leaves_no_temporary_file(store: FileBlobStore, root: Path) -> None:
    with pytest.raises(ConnectionResetError):
        store.stage(FailingStream(good_reads=3))

    assert list(store.temporary_files()) == []
    assert files_under(root) == []


def test_commit_after_discard_fails_and_publishes_nothing(store: FileBlobStore) -> None:
    staged = store.stage(io.BytesIO(DATA))
    store.discard(staged)

    with pytest.raises(FileNotFoundError):
        store.commit(staged)
    assert not store.exists(staged.ref)


def test_missing_blob_error_does_not_reveal_the_path(store: FileBlobStore, root: Path) -> None:
    with pytest.raises(NotFound) as caught:
        store.open(BlobRef(hashlib.sha256(b"gone").hexdigest(), 4))

    assert str(root) not in caught.value.detail


@pytest.mark.parametrize(
    "sha256", ["../../../etc/passwd", "A" * 64, "0" * 63, "0" * 64 + "/x", "g" * 64]
)
def test_a_malformed_hash_never_becomes_a_path(store: FileBlobStore, sha256: str) -> None:
    ref = BlobRef(sha256, 1)

    for action in (store.open, store.exists, store.delete):
        with pytest.raises(ValueError):
            action(ref)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_blob_permissions_follow_the_umask(store: FileBlobStore, umask_022: None) -> None:
    ref = put(store, DATA)

    # Readable by a web server running as another user, unlike mkstemp's 0o600.
    assert stat.S_IMODE(os.stat(blob_path(store, ref)).st_mode) == 0o644


@pytest.mark.skipif(not hasattr(os, "O_DIRECTORY"), reason="directory fsync is POSIX only")
def test_bytes_and_the_rename_are_flushed_to_disk(
    store: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(filesystem.os, "fsync", recording_fsync)

    staged = store.stage(io.BytesIO(DATA))
    assert os.stat(staged.handle).st_ino in synced

    synced.clear()
    ref = store.commit(staged)
    assert os.stat(blob_path(store, ref).parent).st_ino in synced


def test_stored_ignores_foreign_files_and_misplaced_blobs(store: FileBlobStore, root: Path) -> None:
    ref = store.commit(store.stage(io.BytesIO(b"real")))
    misplaced = root / "blobs" / "00" / "00" / ref.sha256
    misplaced.parent.mkdir(parents=True)
    misplaced.write_bytes(b"real")
    (root / "blobs" / "00" / "00" / "notes.txt").write_text("x")
    assert [blob.ref for blob in store.stored()] == [ref]


@pytest.mark.parametrize("name", ["../modelhub.sqlite", "upload-zz.part", "x"])
def test_remove_temporary_accepts_only_staging_names(store: FileBlobStore, name: str) -> None:
    with pytest.raises(ValueError, match="not a staging file name"):
        store.remove_temporary(name)


# -- staging files written part by part: their lock -----------------------------

PART = "cafe" * 8


def _hold_until_killed(root: Path, name: str, ready: Any) -> None:
    """In a child process: hold the staging file ``name`` until killed."""
    with FileBlobStore(root).resume_staging(name) as staging:
        staging.append(io.BytesIO(b"written by the child, never recorded"))
        ready.send("holding")
        time.sleep(600)


def test_the_writer_lock_holds_across_processes_and_dies_with_its_holder(
    store: FileBlobStore, root: Path
) -> None:
    store.begin_staging(PART)
    receiver, sender = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(
        target=_hold_until_killed, args=(root, PART, sender)
    )
    child.start()
    try:
        assert receiver.poll(30) and receiver.recv() == "holding"
        with pytest.raises(Busy), store.resume_staging(PART):
            pass
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)

    # The kernel released the dead holder's lock; what it wrote is still there
    # for the next writer to keep or truncate.
    with store.resume_staging(PART) as staging:
        assert staging.size() == len(b"written by the child, never recorded")


def test_a_writer_that_opened_the_file_before_it_was_finished_gets_nothing(
    store: FileBlobStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (another store object) opens the staging file, then waits
    for its lock while the holder finishes it into a blob: once locked, it
    finds the file is no longer at its path and never writes into the blob."""
    store.begin_staging(PART)
    other = FileBlobStore(root, chunk_size=CHUNK)
    opened, go = threading.Event(), threading.Event()
    real_flock = staging_files.fcntl.flock

    def slow_flock(fd: int, operation: int) -> None:
        if threading.current_thread().name == "late-writer":
            opened.set()
            go.wait(30)
        real_flock(fd, operation)

    monkeypatch.setattr(staging_files.fcntl, "flock", slow_flock)
    outcome: list[BaseException] = []

    def late_writer() -> None:
        try:
            with other.resume_staging(PART) as staging:
                staging.truncate(0)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=late_writer, name="late-writer")
    thread.start()
    assert opened.wait(30)
    with store.resume_staging(PART) as staging:
        staging.append(io.BytesIO(DATA))
        ref = store.commit(staging.finish())
    go.set()
    thread.join(30)

    assert [type(error) for error in outcome] == [NotFound]
    with store.open(ref) as blob:
        assert blob.read() == DATA
