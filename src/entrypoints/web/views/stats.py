"""``/v1/stats``: downloads served and bytes fetched upstream."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.view import view_config

from domain.services.stats import DEFAULT_TOP
from entrypoints.web.serializers import savings_json


@view_config(route_name="stats", request_method="GET", renderer="json")
def usage_stats(request: Request) -> dict:
    top = request.GET.get("top", DEFAULT_TOP)
    return savings_json(request.services.stats.savings(request.identity, top))
