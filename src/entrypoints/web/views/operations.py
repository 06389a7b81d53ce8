"""``/healthz``: whether this instance's database and blob store answer."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from entrypoints.web import REGISTRY_KEY


@view_config(route_name="healthz", request_method="GET")
def healthz(request: Request) -> Response:
    """200 ``{"status": "ok", ...}`` or 503 with what failed.

    Touches neither the request's services nor its transaction: the checks
    use a connection of their own, waited for a few seconds at most.
    """
    healthy, outcomes = request.registry[REGISTRY_KEY].health.report()
    body = {"status": "ok" if healthy else "unavailable", **outcomes}
    response = Response(status=200 if healthy else 503, json_body=body, charset="utf-8")
    response.content_type = "application/json"
    response.cache_control = "no-store"
    return response
