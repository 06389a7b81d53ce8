"""Streaming a model file with ETag, Range and conditional requests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from pyramid.request import Request
from pyramid.response import Response

from domain.services.pretrained_models import Download

BLOCK_SIZE = 1024 * 1024


class BlobIter:
    """Iterates an open file in blocks; a range seeks to its start.

    ``close`` releases the file whether or not the body was sent (a 304, an
    aborted download), as WSGI servers call it in every case.
    """

    def __init__(self, file: BinaryIO, block_size: int = BLOCK_SIZE) -> None:
        self.file = file
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        return self.app_iter_range(None, None)

    def app_iter_range(self, start: int | None, stop: int | None) -> Iterator[bytes]:
        try:
            if start:
                self.file.seek(start)
            remaining = None if stop is None else stop - (start or 0)
            while remaining is None or remaining > 0:
                size = self.block_size if remaining is None else min(self.block_size, remaining)
                data = self.file.read(size)
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield data
        finally:
            self.file.close()

    def close(self) -> None:
        self.file.close()


class DownloadResponse(Response):
    """A file response whose conditional handling also applies to POST.

    WebOb honours ``If-None-Match``, ``Range`` and ``If-Range`` for GET and
    HEAD only; the UFDL client downloads with POST, which here reads and
    changes nothing, so it is answered the same way as GET.
    """

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            environ = {**environ, "REQUEST_METHOD": "GET"}
        return super().__call__(environ, start_response)


def file_response(request: Request, download: Download) -> Response:
    """Stream ``download`` from its open file; ranges seek instead of skipping."""
    response = DownloadResponse(
        content_type="application/octet-stream",
        conditional_response=True,
        app_iter=BlobIter(download.file),
    )
    response.content_length = download.ref.size
    response.etag = (download.ref.sha256, True)
    response.last_modified = download.model.data_time
    response.accept_ranges = "bytes"
    response.content_disposition = 'attachment; filename="model.data"'
    response.cache_control = "private, no-cache"
    return response
