"""Signing in and out of the pages."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.request import Request
from pyramid.security import forget, remember
from pyramid.view import view_config

from domain.errors import Invalid, NotAuthenticated, TooManyRequests
from entrypoints.web.pages.forms import FormState, safe_next
from entrypoints.web.pages.views import done, refused


@view_config(route_name="pages.sign_in", request_method="GET", renderer="sign_in.jinja2")
def sign_in_form(request: Request) -> dict[str, Any]:
    return {"form": FormState(), "next": safe_next(request.GET.get("next"))}


@view_config(route_name="pages.sign_in", request_method="POST", renderer="sign_in.jinja2")
def sign_in(request: Request) -> Any:
    """Through the API's own login, so its throttle counts page attempts too."""
    form = request.POST
    username, target = form.get("username", ""), safe_next(form.get("next"))
    try:
        user = request.services.auth.sign_in(
            username, form.get("password", ""), client=request.client_addr
        )
    except (Invalid, NotAuthenticated, TooManyRequests) as error:
        state = refused(request, {"username": username}, error)
        if isinstance(error, NotAuthenticated):
            request.response.status = 400  # a form refused, not an HTTP challenge
            state.message = "Wrong username or password, or the account is inactive."
        if error.retry_after is not None:
            request.response.headers["Retry-After"] = str(error.retry_after)
        return {"form": state, "next": target}
    remember(request, user)
    return HTTPSeeOther(location=target)


@view_config(route_name="pages.sign_out", request_method="POST")
def sign_out(request: Request) -> HTTPSeeOther:
    forget(request)
    return done(request, "pages.sign_in", "You have signed out.")
