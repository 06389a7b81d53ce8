"""``/v1/openapi.json``: the OpenAPI document of the API, served without login."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from entrypoints.web.openapi import document_bytes


@view_config(route_name="openapi", request_method="GET")
def openapi_document(request: Request) -> Response:
    return Response(body=document_bytes(), content_type="application/json", charset="utf-8")
