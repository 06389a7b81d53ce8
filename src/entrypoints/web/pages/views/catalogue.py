"""The catalogue: the home page, searching and browsing the models."""

from __future__ import annotations

from typing import Any

from pyramid.request import Request
from pyramid.view import view_config

from domain.errors import Invalid
from domain.search import DELETED_CHOICES, ModelSearch
from entrypoints.web.pages import queries
from entrypoints.web.pages.forms import FormState


@view_config(route_name="pages.catalogue", request_method="GET", renderer="catalogue.jinja2")
def catalogue(request: Request) -> dict[str, Any]:
    services, actor, params = request.services, request.identity, request.GET
    form = FormState(params)
    try:
        search = queries.search_of(params)
    except Invalid as error:
        request.response.status = 400
        form, search = FormState.refused(params, error), ModelSearch()
    found = services.models.search(actor, search)

    def link(**changes: Any) -> str:
        return request.route_path("pages.catalogue", _query=queries.query_with(params, **changes))

    return {
        "form": form,
        "search": search,
        "found": found,
        "link": link,
        "frameworks": services.frameworks.list(actor),
        "domains": services.domains.list(actor),
        "licences": services.licences.list(actor),
        "sorts": queries.SORT_LABELS,
        "per_page": queries.PER_PAGE,
        "deleted_choices": DELETED_CHOICES,
    }
