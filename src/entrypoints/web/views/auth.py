"""``/v1/auth``: obtain, refresh and verify JSON Web Tokens."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.view import view_config

from domain.errors import Invalid
from entrypoints.web.bodies import validated
from entrypoints.web.schemas import ObtainBody, RefreshBody, VerifyBody


@view_config(route_name="auth.obtain", request_method="POST", renderer="json")
def obtain(request: Request) -> dict:
    auth, client = request.services.auth, request.client_addr
    try:
        body = validated(request, ObtainBody())
    except Invalid as error:
        auth.refuse_login(error, client=client)
    return auth.obtain(body["username"], body["password"], client=client)


@view_config(route_name="auth.refresh", request_method="POST", renderer="json")
def refresh(request: Request) -> dict:
    body = validated(request, RefreshBody())
    return request.services.auth.refresh(body["refresh"])


@view_config(route_name="auth.verify", request_method="POST", renderer="json")
def verify(request: Request) -> dict:
    body = validated(request, VerifyBody())
    request.services.auth.verify(body["token"])
    return {}
