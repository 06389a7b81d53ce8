"""``/healthz``: whether this instance's database and blob store answer;
``/metrics``: this instance's figures in Prometheus's text format."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from adapters.metrics import CONTENT_TYPE
from domain.errors import NotAuthenticated, NotFound, PermissionDenied
from domain.permissions import is_admin
from entrypoints.web import REGISTRY_KEY

# ``modelhub.metrics``: who may read /metrics.
METRICS_ACCESS = ("public", "admin", "off")


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


@view_config(route_name="metrics", request_method="GET")
def metrics(request: Request) -> Response:
    """Public by default (as on a private network, or behind a proxy that
    keeps it in); ``admin``: an admin's access token; ``off``: 404."""
    access = request.registry.settings.get("modelhub.metrics", "public").strip().lower()
    if access == "off":
        raise NotFound()
    if access == "admin":
        user = request.identity
        if user is None:
            raise NotAuthenticated()
        if not is_admin(user):
            raise PermissionDenied()
    body = request.registry[REGISTRY_KEY].metrics.exposition()
    response = Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE
    response.cache_control = "no-store"
    return response
