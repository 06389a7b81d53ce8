"""The request body of a file upload as a stream: raw, or one multipart part.

Neither form reads the body into memory: the raw body is handed over as is,
and a ``multipart/form-data`` body is parsed incrementally, yielding the bytes
of its file part as the blob store reads them.

Behind nginx (``modelhub.proxy_body_dir``), the body arrives as a file nginx
wrote and names in ``X-Modelhub-Body-File``; a raw one is handed to the store
as a ``SpooledFile``, which it may keep rather than copy.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from multipart import (
    MultipartError,
    MultipartSegment,
    PushMultipartParser,
    parse_options_header,
)
from pyramid.request import Request

from adapters.filesystem import PROXY_BODY_NAME
from domain.errors import Invalid
from domain.transfer import CHUNK_SIZE, SpooledFile

# What a multipart body may carry besides its file (boundaries, part headers,
# small fields); a body larger than the size limit plus this is refused as a
# file over the limit, from its Content-Length alone.
MULTIPART_FRAMING = 64 * 1024

# The header in which nginx names the file holding the request's body.
BODY_FILE_HEADER = "X-Modelhub-Body-File"
# Where the size of a body handed over as a file is kept for the metrics.
BODY_SIZE_KEY = "modelhub.body_size"


class MultipartFileStream:
    """A read-only stream of the single file part of a multipart body."""

    def __init__(self, body: BinaryIO, boundary: str, content_length: int | None) -> None:
        self.body = body
        self.parser = PushMultipartParser(
            boundary, content_length if content_length is not None else -1
        )
        self.pending = bytearray()
        self.in_file = False
        self.files_seen = 0
        self.ended = False

    def read(self, size: int = -1) -> bytes:
        while not self.ended and (size < 0 or len(self.pending) < size):
            self._feed()
        if size < 0:
            size = len(self.pending)
        chunk = bytes(self.pending[:size])
        del self.pending[:size]
        return chunk

    def _feed(self) -> None:
        chunk = self.body.read(CHUNK_SIZE)
        try:
            for event in self.parser.parse(chunk):
                self._on(event)
        except MultipartError as exc:
            raise Invalid(f"Malformed multipart body: {exc}") from None
        if self.parser.closed or not chunk:
            if not self.parser.closed:
                raise Invalid("The multipart body ended before its closing boundary.")
            if self.files_seen == 0:
                raise Invalid("The multipart body has no file part.")
            self.ended = True

    def _on(self, event: MultipartSegment | bytes | None) -> None:
        if isinstance(event, MultipartSegment):
            self.in_file = event.filename is not None
            self.files_seen += self.in_file
            if self.files_seen > 1:
                raise Invalid("The multipart body must hold exactly one file part.")
        elif event is None:
            self.in_file = False
        elif self.in_file:
            self.pending += event


def least_file_size(content_type: str, content_length: int | None) -> int | None:
    """The least the uploaded file can weigh, judging by the request's
    ``Content-Type`` and ``Content-Length`` headers alone (None: unknown)."""
    if content_length is None:
        return None
    if parse_options_header(content_type)[0] == "multipart/form-data":
        return max(0, content_length - MULTIPART_FRAMING)
    return content_length


def upload_stream(request: Request, body_dir: str = "") -> tuple[BinaryIO, int | None]:
    """The file's bytes as a stream, and the least its size can be when the
    request's headers tell (see ``least_file_size``). With ``body_dir``,
    a body nginx wrote there is read from its file."""
    spooled = proxied_body(request, body_dir)
    body: BinaryIO = spooled if spooled is not None else request.body_file  # type: ignore[assignment]
    length = request.content_length if spooled is None else request.environ[BODY_SIZE_KEY]
    header = request.headers.get("Content-Type", "")
    least = least_file_size(header, length)
    content_type, options = parse_options_header(header)
    if content_type == "multipart/form-data":
        boundary = options.get("boundary")
        if not boundary:
            raise Invalid("A multipart body needs a boundary.")
        return MultipartFileStream(body, boundary, length), least
    return body, least


def proxied_body(request: Request, body_dir: str) -> SpooledFile | None:
    """The body file nginx names in ``X-Modelhub-Body-File``, opened, when
    ``body_dir`` is set and the header too; closed when the request ends.

    A name outside ``body_dir`` means nginx and the app disagree on the
    folder (or the header did not come from nginx): an error, not a fallback.
    """
    name = request.headers.get(BODY_FILE_HEADER)
    if not body_dir or not name:
        return None
    folder, base = os.path.split(name)
    if os.path.normpath(folder) != os.path.normpath(body_dir) or not PROXY_BODY_NAME.fullmatch(
        base
    ):
        raise RuntimeError(
            f"{BODY_FILE_HEADER} names {name!r}, not a file of modelhub.proxy_body_dir "
            f"({body_dir}): the proxy's client_body_temp_path must be that folder"
        )
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    file = os.fdopen(fd, "rb")
    request.add_finished_callback(lambda _request: file.close())
    request.environ[BODY_SIZE_KEY] = os.fstat(fd).st_size
    return SpooledFile(file, name)


def received_size(request: Request) -> int:
    """The bytes of the request's body, however it arrived."""
    return request.content_length or request.environ.get(BODY_SIZE_KEY, 0)
