"""A tween that counts and logs every request: Prometheus metrics and one
access-log line each.

Requests are labelled by the matched route's name (``models.download``),
never the raw path, so the metrics' label sets stay few; a request that
matched no route is ``unmatched``. The access log (logger
``modelhub.access``, set up in the ini files) writes one line per request
when its response ends: the client's address as waitress gives it
(``trusted_proxy`` puts the proxy's ``X-Forwarded-For`` there), method,
path, route, status, body bytes and seconds.

The response's body is not replaced: a file handed to the server as
``wsgi.file_wrapper`` stays one (the server sends it efficiently); only its
``close``, which the server calls once the body is sent or abandoned, gets
a hook. Its bytes are then the ``Content-Length`` the response declared,
while an iterated body's are counted as sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pyramid.registry import Registry as PyramidRegistry
from pyramid.request import Request
from pyramid.response import Response

from adapters.metrics import Metrics
from entrypoints.web import REGISTRY_KEY

access_log = logging.getLogger("modelhub.access")
log = logging.getLogger(__name__)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DOWNLOAD_ROUTE = "models.download"
# Requests whose body is (part of) a model file: set file, and a tus part.
UPLOADS = frozenset({("models.data", "POST"), ("uploads.item", "PATCH")})


def observe_tween_factory(
    handler: Callable[[Request], Response], registry: PyramidRegistry
) -> Callable[[Request], Response]:
    metrics: Metrics = registry[REGISTRY_KEY].metrics

    def observe(request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = handler(request)
        except BaseException:
            # Past the exception views: the server answers 500.
            _done(metrics, request, 500, 0, started, time.perf_counter())
            raise
        headers_at = time.perf_counter()
        route = _route(request)
        metrics.latency.labels(route).observe(headers_at - started)
        status = response.status_code
        if (route, request.method) in UPLOADS and 200 <= status < 300:
            metrics.bytes_received.inc(request.content_length or 0)
        downloading = route == DOWNLOAD_ROUTE and status in (200, 206) and request.method == "GET"
        if downloading:
            metrics.downloads_in_progress.inc()

        def finished(sent: int) -> None:
            if downloading:
                metrics.downloads_in_progress.dec()
            _done(metrics, request, status, sent, started, time.perf_counter())

        _on_close(response, finished)
        return response

    return observe


def _route(request: Request) -> str:
    matched = getattr(request, "matched_route", None)
    return matched.name if matched is not None else "unmatched"


def _done(
    metrics: Metrics, request: Request, status: int, sent: int, started: float, ended: float
) -> None:
    route = _route(request)
    method = request.method if request.method in METHODS else "other"
    try:
        metrics.requests.labels(route, method, str(status)).inc()
        access_log.info(
            '%s "%s %s" %s %d %d %.3f',
            request.client_addr or "-",
            request.method,
            request.path_qs,
            route,
            status,
            sent,
            ended - started,
            extra={
                "client": request.client_addr,
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": status,
                "bytes": sent,
                "duration": ended - started,
            },
        )
    except Exception:  # pragma: no cover - never let bookkeeping break a response
        log.warning("a request was not counted", exc_info=True)


def _on_close(response: Response, finished: Callable[[int], None]) -> None:
    """Call ``finished`` with the body's bytes once the server closes it."""
    app_iter = response.app_iter
    if hasattr(app_iter, "read") or type(app_iter).__name__ == "ReadOnlyFileBasedBuffer":
        _hook_close(app_iter, response.content_length or 0, finished)
        return
    # Setting the body drops its Content-Length: kept as it was.
    length = response.content_length
    if isinstance(app_iter, (list, tuple)):
        response.app_iter = _Closing(app_iter, finished, known=sum(map(len, app_iter)))
    else:
        response.app_iter = _Closing(app_iter, finished)
    response.content_length = length


def _hook_close(app_iter: Any, length: int, finished: Callable[[int], None]) -> None:
    original = getattr(app_iter, "close", None)
    called = False

    def close() -> None:
        nonlocal called
        try:
            if original is not None:
                original()
        finally:
            if not called:
                called = True
                finished(length)

    try:
        app_iter.close = close
    except AttributeError:  # pragma: no cover - a body that takes no attributes
        finished(length)


class _Closing:
    """An iterable body, counted, calling ``finished`` when closed."""

    def __init__(
        self, body: Iterable[bytes], finished: Callable[[int], None], known: int | None = None
    ) -> None:
        self.body = body
        self.finished = finished
        self.known = known
        self.sent = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.finished(self.known if self.known is not None else self.sent)
