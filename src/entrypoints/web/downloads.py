"""Streaming a model file: ETag, Last-Modified, Range and conditional requests.

The body is handed to the server as ``wsgi.file_wrapper`` over the open
blob file, positioned at the first byte to send and limited by
``Content-Length``. Waitress then sends it from its I/O loop, so a slow
downloader holds no worker thread, and a resumed download seeks to its
start instead of reading the bytes before it. Ranged responses keep both
properties because the range is expressed the same way: a seek and a length.

The conditional logic is written here rather than left to WebOb, whose
version serves ranges through an iterator (no file wrapper) and only for
GET; the UFDL client downloads with POST, which reads and changes nothing,
and is answered the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from pyramid.request import Request
from pyramid.response import Response

from domain.services.pretrained_models import Download

BLOCK_SIZE = 1024 * 1024


class BlobIter:
    """Iterates ``length`` bytes of an open file from its current position;
    used when the server offers no ``wsgi.file_wrapper``."""

    def __init__(self, file: BinaryIO, length: int, block_size: int = BLOCK_SIZE) -> None:
        self.file = file
        self.remaining = length
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        try:
            while self.remaining > 0:
                data = self.file.read(min(self.block_size, self.remaining))
                if not data:
                    return
                self.remaining -= len(data)
                yield data
        finally:
            self.file.close()

    def close(self) -> None:
        self.file.close()


def _body(environ: dict[str, Any], file: BinaryIO, length: int) -> Any:
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(file, BLOCK_SIZE)
    return BlobIter(file, length)


def _not_modified(request: Request, response: Response) -> bool:
    if request.if_none_match:
        return response.etag in request.if_none_match
    if request.if_modified_since and response.last_modified:
        return response.last_modified <= request.if_modified_since
    return False


def file_response(request: Request, download: Download) -> Response:
    """200, 206, 304 or 416 for the download, as the request's headers ask."""
    size = download.ref.size
    response = Response(content_type="application/octet-stream", charset=None)
    response.etag = (download.ref.sha256, True)
    response.last_modified = download.model.data_time
    response.accept_ranges = "bytes"
    response.content_disposition = 'attachment; filename="model.data"'
    response.cache_control = "private, no-cache"

    if _not_modified(request, response):
        download.file.close()
        response.status = 304
        del response.content_type
        response.content_length = None
        return response

    start, stop = 0, size
    if request.range is not None and response in request.if_range:
        content_range = request.range.content_range(size)
        if content_range is None:
            download.file.close()
            response.status = 416
            response.content_range = f"bytes */{size}"
            response.content_type = "application/json"
            response.json_body = {"detail": f"Requested range not satisfiable: {request.range}"}
            return response
        start, stop = content_range.start, content_range.stop
        response.status = 206
        response.content_range = content_range

    download.file.seek(start)
    # In this order: setting app_iter resets Content-Length.
    response.app_iter = _body(request.environ, download.file, stop - start)
    response.content_length = stop - start
    return response
