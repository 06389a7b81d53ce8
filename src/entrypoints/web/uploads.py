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

CHUNK = 1024 * 1024


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
        chunk = self.body.read(CHUNK)
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


def upload_stream(request: Request) -> tuple[BinaryIO, int | None]:
    """The file's bytes as a stream, and its size when the request declares it."""
    content_type, options = parse_options_header(request.headers.get("Content-Type", ""))
    if content_type == "multipart/form-data":
        boundary = options.get("boundary")
        if not boundary:
            raise Invalid("A multipart body needs a boundary.")
        return MultipartFileStream(request.body_file, boundary, request.content_length), None
    return request.body_file, request.content_length
