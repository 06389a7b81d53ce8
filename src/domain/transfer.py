"""How bytes move through the registry: the chunk size and progress reports."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

# Bytes read or written at a time when streaming a file in or out: large
# enough to keep system calls few, small enough that memory stays flat.
CHUNK_SIZE = 1024 * 1024

Progress = Callable[[int], None]
"""Called with the number of bytes just moved."""


class Counted:
    """A readable stream that reports how many bytes were read through it."""

    def __init__(self, stream: BinaryIO, progress: Progress) -> None:
        self.stream = stream
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        if chunk:
            self.progress(len(chunk))
        return chunk

    def close(self) -> None:
        self.stream.close()


class SpooledFile:
    """A complete request body that a server in front wrote to a file of its
    own, handed over whole: nothing writes to it any more, so a store may keep
    that very file (a hard link) instead of writing its bytes a second time.

    Read like any stream by stores that copy.
    """

    def __init__(self, file: BinaryIO, path: str) -> None:
        self.file = file
        self.path = path

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def close(self) -> None:
        self.file.close()
