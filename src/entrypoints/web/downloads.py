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
and is answered the same way. One range is served; a request for several
gets the whole file, which RFC 9110 allows.

Every response with a body is counted when the server closes it, with the
bytes that left the server (``MeteredFile``; what counts as a download is
the domain's rule, ``Stats.count_response``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, cast

from pyramid.request import Request
from pyramid.response import Response

from adapters.filesystem import FileBlobStore
from domain.errors import DomainError
from domain.model import PretrainedModel
from domain.services.pretrained_models import Download
from domain.services.stats import Stats
from domain.services.upstream import Arriving
from domain.transfer import CHUNK_SIZE
from entrypoints.web import REGISTRY_KEY

log = logging.getLogger(__name__)


class BlobIter:
    """Iterates ``length`` bytes of an open file from its current position;
    used when the server offers no ``wsgi.file_wrapper``."""

    def __init__(self, file: BinaryIO, length: int) -> None:
        self.file = file
        self.remaining = length

    def __iter__(self) -> Iterator[bytes]:
        try:
            while self.remaining > 0:
                data = self.file.read(min(CHUNK_SIZE, self.remaining))
                if not data:
                    return
                self.remaining -= len(data)
                yield data
        finally:
            self.file.close()

    def close(self) -> None:
        self.file.close()


class MeteredFile:
    """A file opened at ``start`` whose ``close`` reports the bytes sent of
    it, once: how far it was read, at most ``length``.

    waitress sends a ``wsgi.file_wrapper`` body by reading at the file's
    position and seeking back, then moving past what the socket took; it
    closes the file once everything is sent, or when the client goes away.
    ``BlobIter`` reads it chunk by chunk. Either way the position at close,
    less the start, is what left the server.
    """

    def __init__(
        self, file: BinaryIO, start: int, length: int, on_close: Callable[[int], None]
    ) -> None:
        self.file = file
        self.start = start
        self.length = length
        self.on_close: Callable[[int], None] | None = on_close
        self._closing = threading.Lock()

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        with self._closing:
            on_close, self.on_close = self.on_close, None
        if on_close is None:
            return
        try:
            sent = min(max(0, self.file.tell() - self.start), self.length)
        except (OSError, ValueError):
            sent = 0
        self.file.close()
        try:
            on_close(sent)
        except Exception:
            # Never let counting break the server's cleanup of a response.
            log.warning("a download was not counted", exc_info=True)


def _counted(request: Request, download: Download, start: int, stop: int) -> BinaryIO:
    """The download's file, counted by the usage statistics once closed."""
    stats = request.services.stats
    pk, size = download.model.pk, download.ref.size

    def count(sent: int) -> None:
        stats.count_response(pk, size, start, sent)

    return cast(BinaryIO, MeteredFile(download.file, start, stop - start, count))


def _body(environ: dict[str, Any], file: BinaryIO, length: int) -> Any:
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(file, CHUNK_SIZE)
    return BlobIter(file, length)


def _not_modified(request: Request, response: Response) -> bool:
    # Not ``if request.if_none_match``: WebOb's value for "*" is falsy.
    if "If-None-Match" in request.headers:
        return response.etag in request.if_none_match
    if request.if_modified_since and response.last_modified:
        return response.last_modified <= request.if_modified_since
    return False


_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.ASCII)
# Larger than any file, and parsed without int()'s cost on endless digits.
_HUGE = 10**19


def _offset(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return _HUGE if len(digits) > 18 else int(digits)


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The ``(start, stop)`` bytes a ``Range`` header asks for, or None to
    send the whole file (no header, or one this server does not serve: not
    bytes, malformed, or several ranges). ``(size, size)`` when it cannot be
    satisfied (416)."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = _offset(last)
        return (size, size) if suffix == 0 else (max(0, size - suffix), size)
    start = _offset(first)
    stop = _offset(last) + 1 if last else _HUGE + 1
    if stop <= start:
        return None  # "5-2" is malformed: ignored, as RFC 9110 allows
    return (size, size) if start >= size else (start, min(stop, size))


def file_response(request: Request, download: Download) -> Response:
    """200, 206, 304 or 416 for the download, as the request's headers ask."""
    if download.arriving is not None:
        return _arriving_response(request, download.model, download.arriving)
    assert download.ref is not None and download.file is not None
    size = download.ref.size
    response = _file_headers()
    response.etag = (download.ref.sha256, True)
    response.last_modified = download.model.data_time
    response.accept_ranges = "bytes"
    if not _not_modified(request, response) and (redirect := _redirected(request, download)):
        return redirect
    offload = _offload_name(request, download)
    if offload is not None:
        return _offloaded(request, download, response, offload)
    wanted = _answered(request, response, size)
    if wanted is None:
        download.file.close()
        return response
    start, stop = wanted[0], wanted[1] or size  # a stored file's size is known
    download.file.seek(start)
    file = _counted(request, download, start, stop)
    # In this order: setting app_iter resets Content-Length. A file read over
    # the network (S3) is sent by this worker thread, not by waitress's I/O
    # loop, which would stall every connection on each read.
    if getattr(download.file, "remote", False):
        response.app_iter = BlobIter(file, stop - start)
    else:
        response.app_iter = _body(request.environ, file, stop - start)
    response.content_length = stop - start
    return response


def _offload_name(request: Request, download: Download) -> str | None:
    """The ``X-Accel-Redirect`` URI of the stored file, when nginx sends the
    bytes (``modelhub.accel_redirect`` is set and the files are in a folder
    nginx reads: the filesystem store); None when the app sends them."""
    composition = request.registry[REGISTRY_KEY]
    prefix = composition.settings.accel_redirect
    if not prefix or not isinstance(composition.store, FileBlobStore):
        return None
    assert download.ref is not None
    return prefix + composition.store.blob_name(download.ref)


def _offloaded(request: Request, download: Download, response: Response, uri: str) -> Response:
    """The stored file's headers with an empty body and ``X-Accel-Redirect``:
    nginx sends the file with sendfile, and answers a ``Range`` (206, 416)
    and ``If-Range`` itself, against these headers (see ``deploy/nginx.conf``).

    ``If-None-Match`` and ``If-Modified-Since`` are answered here (304): nginx
    compares them with its own file ETag before it applies ours. The response
    is counted now, with the bytes its range asks for, as nginx reports nothing
    back.
    """
    assert download.ref is not None and download.file is not None
    download.file.close()
    if _not_modified(request, response):
        return _unchanged(response)
    size = download.ref.size
    wanted = requested_range(request.headers.get("Range"), size)
    start, stop = wanted if wanted is not None and response in request.if_range else (0, size)
    if start < stop and request.method != "HEAD":
        request.services.stats.count_response(download.model.pk, size, start, stop - start)
    response.headers["X-Accel-Redirect"] = uri
    del response.accept_ranges  # nginx adds its own; it would be sent twice
    response.body = b""
    return response


def _redirected(request: Request, download: Download) -> Response | None:
    """With ``modelhub.s3_redirect``, a redirect of a GET or POST to a
    short-lived URL of the store's (presigned): 302 for a GET, 303 for a POST
    so that clients (``requests``, curl, browsers) follow it with a GET.
    The client sends its ``Range`` there. Counted as the bytes it asks for.
    None when the store has no such URLs: the file is streamed."""
    registry = request.registry[REGISTRY_KEY]
    if request.method not in ("GET", "POST") or not registry.settings.s3_redirect:
        return None
    assert download.ref is not None and download.file is not None
    lifetime = registry.settings.s3_redirect_lifetime
    url = registry.store.public_url(download.ref, "model.data", lifetime)
    if url is None:
        return None
    download.file.close()
    size = download.ref.size
    start, stop = requested_range(request.headers.get("Range"), size) or (0, size)
    if start < stop:
        request.services.stats.count_response(download.model.pk, size, start, stop - start)
    response = Response(status=302 if request.method == "GET" else 303, location=url)
    response.cache_control = "private, no-store"
    return response


def _arriving_response(request: Request, model: PretrainedModel, arriving: Arriving) -> Response:
    """The file while it arrives from upstream: its ``ETag`` only when its
    digest is pinned, ``Content-Length`` and ranges only when upstream
    announced the size; the body streams as the bytes come."""
    response = _file_headers()
    size = arriving.size
    if model.source_sha256 is not None:
        response.etag = (model.source_sha256, True)
    if size is not None:
        response.accept_ranges = "bytes"
    wanted = _answered(request, response, size)
    if wanted is None:
        arriving.close()
        return response
    start, stop = wanted
    stats = request.services.stats
    response.app_iter = _streamed(arriving.read(start, stop), model.pk, start, size, stats)
    response.content_length = None if stop is None else stop - start
    return response


def _unchanged(response: Response) -> Response:
    """``response`` made a 304: the client's copy is current."""
    response.status = 304
    del response.content_type
    response.content_length = None
    return response


def _file_headers() -> Response:
    response = Response(content_type="application/octet-stream", charset=None)
    response.content_disposition = 'attachment; filename="model.data"'
    response.cache_control = "private, no-cache"
    return response


def _answered(
    request: Request, response: Response, size: int | None
) -> tuple[int, int | None] | None:
    """The bytes to send, ``(start, stop)``, the response made a 206 for a
    range; or None when the headers already answer: 304 (not modified) or
    416 (a range past the end). Ranges need the ``size``."""
    if _not_modified(request, response):
        _unchanged(response)
        return None
    wanted = requested_range(request.headers.get("Range"), size) if size is not None else None
    if wanted is None or response not in request.if_range:
        return 0, size
    start, stop = wanted
    if start >= stop:
        response.status = 416
        response.content_range = f"bytes */{size}"
        response.content_type = "application/json"
        response.json_body = {"detail": "Requested range not satisfiable."}
        return None
    response.status = 206
    response.content_range = f"bytes {start}-{stop - 1}/{size}"
    return start, stop


def _streamed(
    body: Iterator[bytes], pk: int, start: int, size: int | None, stats: Stats
) -> Iterator[bytes]:
    """``body``, counted by the usage statistics once it ends.

    When the transfer fails, a warning, and the response ends short: with a
    ``Content-Length``, the server then closes the connection; without, only
    an error keeps it from ending the chunked body as if it were complete.
    """
    sent, whole = 0, False
    try:
        for chunk in body:
            sent += len(chunk)
            yield chunk
        whole = True
    except DomainError as exc:
        log.warning("download of model %s cut short: %s", pk, exc.detail)
        if size is None:
            raise
    finally:
        end = size if size is not None else start + sent + (0 if whole else 1)
        stats.count_response(pk, end, start, sent)
