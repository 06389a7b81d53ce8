"""The pages' views: each reads the request, calls one service method and
hands the result to its template (or redirects after a change)."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.request import Request

from domain.errors import Conflict, DomainError, Invalid
from entrypoints.web.errors import status_of
from entrypoints.web.pages.forms import FormState

# The session's queue of messages shown once on the next page.
NOTICES = "notices"


def form_values(request: Request) -> dict[str, str]:
    """The submitted form's text fields (the CSRF token left out)."""
    return {
        key: value
        for key, value in request.POST.items()
        if isinstance(value, str) and key != "csrf_token"
    }


def done(request: Request, route: str, notice: str = "", **parts: Any) -> HTTPSeeOther:
    """After a change: to ``route``, with ``notice`` shown there once."""
    if notice:
        request.session.flash(notice, NOTICES)
    return HTTPSeeOther(location=request.route_path(route, **parts))


def refused(request: Request, values: dict[str, Any], error: DomainError) -> FormState:
    """The form again after the services refused it: each field beside its
    messages (400), or the conflict above the form (409)."""
    request.response.status = status_of(error)
    if isinstance(error, Invalid):
        return FormState.refused(values, error)
    return FormState(values, {}, error.detail)


# What a form's services may refuse and the form shows (others have pages).
FORM_ERRORS = (Invalid, Conflict)
