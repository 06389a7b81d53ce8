"""Staging files that grow part by part on a local (or shared) filesystem.

One writer at a time holds a staging file, whatever process it runs in:

- across processes, an exclusive ``flock`` on the open file, taken without
  waiting (a second writer hears ``Busy`` at once). The kernel releases it
  when its holder closes the file or dies, so a crash leaves no stale lock.
- within a process, a set of the names held: on NFS, Linux emulates
  ``flock`` with POSIX locks, which the threads of one process share.

Once locked, the file must still be the one at its path: a writer that
opened it just before another finished it (renamed it into the blob folder)
or removed it would otherwise write into a committed blob or a lost inode.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from domain.errors import Busy, NotFound, StorageFull
from domain.model import BlobRef
from domain.ports import StagedBlob, StagingFile

GONE = "The bytes of this upload are no longer in the store."


class LockedStagingFile(StagingFile):
    """A staging file open for reading and writing, its lock held by us."""

    def __init__(self, file: BinaryIO, path: Path, chunk_size: int) -> None:
        self.file = file
        self.path = path
        self.chunk_size = chunk_size

    def size(self) -> int:
        return os.fstat(self.file.fileno()).st_size

    def truncate(self, size: int) -> None:
        self.file.truncate(size)

    def append(self, stream: BinaryIO) -> int:
        written = 0
        self.file.seek(0, os.SEEK_END)
        try:
            with no_space_is_full():
                while chunk := stream.read(self.chunk_size):
                    self.file.write(chunk)
                    written += len(chunk)
        finally:
            with contextlib.suppress(OSError):
                self.file.flush()
        return written

    def sync(self) -> None:
        with no_space_is_full():
            self.file.flush()
            os.fdatasync(self.file.fileno())

    def finish(self) -> StagedBlob:
        """Hash the file from its first byte and fsync it; ``commit`` then
        renames it into place."""
        self.file.flush()
        self.file.seek(0)
        digest = hashlib.file_digest(self.file, "sha256")  # type: ignore[arg-type]
        size = self.file.tell()
        with no_space_is_full():
            os.fsync(self.file.fileno())
        return StagedBlob(BlobRef(digest.hexdigest(), size), str(self.path))


class StagingLocks:
    """The writers' locks on the staging files of one folder."""

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = chunk_size
        self._held: set[Path] = set()
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def hold(self, path: Path) -> Iterator[LockedStagingFile]:
        """The staging file at ``path``, locked until the block ends."""
        with self._guard:
            if path in self._held:
                raise Busy()
            self._held.add(path)
        try:
            with _opened(path) as file:
                try:
                    fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise Busy() from None
                if not _still_at(file, path):
                    raise NotFound(GONE)
                yield LockedStagingFile(file, path, self.chunk_size)
        finally:
            with self._guard:
                self._held.discard(path)


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[BinaryIO]:
    try:
        file = open(path, "r+b")  # noqa: SIM115 - closed below, which releases the lock
    except FileNotFoundError:
        raise NotFound(GONE) from None
    with file:
        yield file


def _still_at(file: BinaryIO, path: Path) -> bool:
    """Whether ``path`` still names the open ``file`` (not renamed or removed)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(file.fileno())
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


@contextlib.contextmanager
def no_space_is_full() -> Iterator[None]:
    """A full disk or quota is ``StorageFull`` (nothing stored), not a crash."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull() from exc
        raise
