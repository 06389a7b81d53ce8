"""Thin views: parse the request, call one service method, render the result."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response

from domain.errors import NotFound

MAX_PK = 2**63 - 1


def path_pk(request: Request) -> int:
    """The ``{pk}`` of the path; one too large for any row is simply not found."""
    pk = int(request.matchdict["pk"])
    if pk < 1 or pk > MAX_PK:
        raise NotFound()
    return pk


def created(request: Request, body: object) -> object:
    request.response.status = 201
    return body


def no_content(request: Request) -> Response:
    """204 with no body and no content type."""
    response = Response(status=204)
    response.content_type = None
    return response
