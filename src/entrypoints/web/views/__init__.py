"""Thin views: parse the request, call one service method, render the result."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response

from domain.errors import NotFound
from domain.model import INT_MAX


def path_pk(request: Request) -> int:
    """The ``{pk}`` of the path; one too large for any row is simply not found."""
    digits = request.matchdict["pk"]
    if len(digits) > len(str(INT_MAX)) or int(digits) > INT_MAX:
        raise NotFound()
    return int(digits)


def created(request: Request, body: object) -> object:
    request.response.status = 201
    return body


def no_content(request: Request) -> Response:
    """204 with no body and no content type."""
    response = Response(status=204)
    response.content_type = None
    return response
