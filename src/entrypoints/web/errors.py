"""Exception views: domain errors and HTTP errors as the API's JSON bodies.

One place maps each domain error to its status. A 500 is logged with its
traceback on the server and answers a generic message, never internals.
"""

from __future__ import annotations

import logging
import traceback

from pyramid.exceptions import URLDecodeError
from pyramid.httpexceptions import HTTPException, HTTPNotFound
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import exception_view_config, notfound_view_config
from webob.request import DisconnectionError

from domain import errors
from entrypoints.web.routes import view_methods

log = logging.getLogger(__name__)

STATUS: dict[type[errors.DomainError], int] = {
    errors.Invalid: 400,
    errors.NotAuthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.TooLarge: 413,
    errors.UnsupportedFileType: 415,
    errors.ChecksumMismatch: 460,  # tus's checksum extension
    errors.TooManyRequests: 429,
    errors.SourceTimeout: 504,
    errors.SourceUnavailable: 502,
    errors.Unavailable: 503,
    errors.StorageFull: 507,
}
AUTHENTICATE = 'Bearer realm="api"'


def json_error(request: Request, status: int, body: object) -> Response:
    response = Response(status=status, json_body=body, charset="utf-8")
    response.content_type = "application/json"
    return response


@exception_view_config(errors.DomainError)
def domain_error(exc: errors.DomainError, request: Request) -> Response:
    status = status_of(exc)
    if isinstance(exc, errors.Invalid) and exc.fields:
        body: object = exc.fields
    else:
        body = {"detail": exc.detail}
    response = json_error(request, status, body)
    if isinstance(exc, errors.NotAuthenticated):
        response.headers["WWW-Authenticate"] = AUTHENTICATE
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@notfound_view_config()
def not_found(exc: HTTPNotFound, request: Request) -> Response:
    """404 for unknown paths; 405 with ``Allow`` for a known path and wrong method."""
    if request.matched_route is not None:
        methods = sorted(view_methods(request.registry, request.matched_route.name) or ())
        if methods and request.method not in methods:
            response = json_error(
                request, 405, {"detail": f'Method "{request.method}" not allowed.'}
            )
            response.headers["Allow"] = ", ".join(methods)
            return response
    return json_error(request, 404, {"detail": "Not found."})


@exception_view_config(URLDecodeError)
def undecodable_path(exc: URLDecodeError, request: Request) -> Response:
    """A path that is not UTF-8 names nothing here."""
    return json_error(request, 404, {"detail": "Not found."})


@exception_view_config(DisconnectionError)
def body_cut_short(exc: DisconnectionError, request: Request) -> Response:
    """The body ended before its Content-Length: the client went away."""
    detail = "The request body ended before its declared length."
    return json_error(request, 400, {"detail": detail})


@exception_view_config(HTTPException)
def http_error(exc: HTTPException, request: Request) -> Response:
    if exc.code < 400:
        return exc
    response = json_error(request, exc.code, {"detail": exc.explanation or exc.title})
    for name in ("Allow", "Retry-After"):
        if name in exc.headers:
            response.headers[name] = exc.headers[name]
    return response


# Enough of an error's message to know it; a database error's message holds
# its whole statement, which a large request makes large.
LOGGED_MESSAGE = 2000


@exception_view_config(Exception)
def server_error(exc: Exception, request: Request) -> Response:
    log_unhandled(exc, request)
    return json_error(request, 500, {"detail": "A server error occurred."})


def log_unhandled(exc: Exception, request: Request) -> None:
    """Log a bug's traceback on the server (the client never sees it)."""
    log.error(
        "unhandled error on %s %s\n%s",
        request.method,
        request.environ.get("PATH_INFO", "")[:200],
        bounded_traceback(exc),
    )


def status_of(exc: errors.DomainError) -> int:
    """The HTTP status of a domain error."""
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)


def bounded_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` (and its causes), each message cut short."""
    lines = []
    for part in traceback.TracebackException.from_exception(exc).format():
        if len(part) > LOGGED_MESSAGE:
            part = f"{part[:LOGGED_MESSAGE]}... [{len(part) - LOGGED_MESSAGE} more characters]\n"
        lines.append(part)
    return "".join(lines).rstrip()
