"""Errors on the pages: a page of our own for each, never a traceback.

A request is a page's when it matched a page route, or matched nothing,
lies outside ``/v1/`` and asks for HTML; the API's errors stay JSON
(``entrypoints.web.errors``). A page that needs a signed-in user sends an
anonymous visitor to the sign-in page, and back afterwards.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPException, HTTPNotFound, HTTPSeeOther
from pyramid.request import Request
from pyramid.response import Response

from domain import errors
from entrypoints.web.errors import log_unhandled, status_of
from entrypoints.web.routes import ROUTES, view_methods

TEMPLATE = "error.jinja2"
TITLES = {
    400: "This request could not be read",
    403: "You may not do this",
    404: "Nothing here",
    405: "Not this way",
    409: "Not possible just now",
    410: "This model has been deleted",
    413: "Too large",
    429: "Too many attempts",
    500: "Something went wrong on our side",
    502: "The upstream server failed",
    503: "Temporarily unavailable",
    504: "The upstream server did not answer",
}


def is_page(request: Request) -> bool:
    route = request.matched_route
    if route is not None:
        return route.name not in ROUTES
    if request.path_info == "/v1" or request.path_info.startswith("/v1/"):
        return False
    return "text/html" in request.headers.get("Accept", "")


class PagePredicate:
    """The view predicate ``page=True``: the request is a page's."""

    def __init__(self, value: bool, config: Configurator) -> None:
        self.value = value

    def text(self) -> str:
        return f"page = {self.value}"

    phash = text

    def __call__(self, context: Any, request: Request) -> bool:
        return is_page(request) == self.value


def error_page(request: Request, status: int, detail: str) -> dict[str, Any]:
    request.response.status = status
    return {"status": status, "title": TITLES.get(status, "Error"), "detail": detail}


def domain_error(exc: errors.DomainError, request: Request) -> Any:
    if isinstance(exc, errors.NotAuthenticated):
        return sign_in_first(request)
    page = error_page(request, status_of(exc), exc.detail)
    if exc.retry_after is not None:
        request.response.headers["Retry-After"] = str(exc.retry_after)
    return page


def sign_in_first(request: Request) -> Response:
    """To the sign-in page, then back here (a page that was read)."""
    back = request.path_qs if request.method in ("GET", "HEAD") else "/"
    return HTTPSeeOther(location=request.route_path("pages.sign_in", _query={"next": back}))


def http_error(exc: HTTPException, request: Request) -> Any:
    if exc.code < 400:
        return exc
    page = error_page(request, exc.code, exc.explanation or exc.title)
    if "Allow" in exc.headers:
        request.response.headers["Allow"] = exc.headers["Allow"]
    return page


def not_found(exc: HTTPNotFound, request: Request) -> dict[str, Any]:
    """404, or 405 with ``Allow`` for a page asked with another method."""
    if request.matched_route is not None:
        methods = sorted(view_methods(request.registry, request.matched_route.name) or ())
        if methods and request.method not in methods:
            request.response.headers["Allow"] = ", ".join(methods)
            return error_page(request, 405, f"This page does not answer {request.method}.")
    return error_page(request, 404, "There is no page at this address.")


def server_error(exc: Exception, request: Request) -> dict[str, Any]:
    log_unhandled(exc, request)
    return error_page(request, 500, "The error was logged; please try again later.")


def includeme(config: Configurator) -> None:
    config.add_view_predicate("page", PagePredicate)
    page = {"page": True, "renderer": TEMPLATE}
    config.add_exception_view(domain_error, context=errors.DomainError, **page)
    config.add_notfound_view(not_found, **page)
    config.add_exception_view(http_error, context=HTTPException, **page)
    config.add_exception_view(server_error, context=Exception, **page)
