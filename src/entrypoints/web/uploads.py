"""The request body of a file upload as a stream: raw, or one multipart part.

Neither form reads the body into memory: the raw body is handed over as is,
and a ``multipart/form-data`` body is parsed incrementally, yielding the bytes
of its file part as the blob store reads them.
"""

from __future__ import annotations

from typing import BinaryIO

from multipart import (
    MultipartError,
    MultipartSegment,
    PushMultipartParser,
    parse_options_header,
)
from pyramid.request import Request

from domain.errors import Invalid
from domain.transfer import CHUNK_SIZE

# What a multipart body may carry besides its file (boundaries, part headers,
# small fields); a body larger than the size limit plus this is refused as a
# file over the limit, from its Content-Length alone.
MULTIPART_FRAMING = 64 * 1024


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


def upload_stream(request: Request) -> tuple[BinaryIO, int | None]:
    """The file's bytes as a stream, and the least its size can be when the
    request's headers tell (see ``least_file_size``)."""
    header = request.headers.get("Content-Type", "")
    least = least_file_size(header, request.content_length)
    content_type, options = parse_options_header(header)
    if content_type == "multipart/form-data":
        boundary = options.get("boundary")
        if not boundary:
            raise Invalid("A multipart body needs a boundary.")
        return MultipartFileStream(request.body_file, boundary, request.content_length), least
    return request.body_file, least
