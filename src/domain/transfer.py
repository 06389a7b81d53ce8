"""How bytes move through the registry: the chunk size and progress reports."""

from __future__ import annotations

from collections.abc import Callable

# Bytes read or written at a time when streaming a file in or out: large
# enough to keep system calls few, small enough that memory stays flat.
CHUNK_SIZE = 1024 * 1024

Progress = Callable[[int], None]
"""Called with the number of bytes just moved."""
