"""``/v1/auth``: obtain, refresh and verify JSON Web Tokens."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from domain.errors import Invalid, NotAuthenticated, PermissionDenied
from domain.services.auth import ACCESS, TokenCheck
from entrypoints.web import REGISTRY_KEY, SESSIONS_KEY
from entrypoints.web.bodies import validated
from entrypoints.web.credentials import HeaderCredentials, Presented
from entrypoints.web.schemas import ObtainBody, RefreshBody, VerifyBody
from entrypoints.web.security import bearer_token


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


@view_config(route_name="auth.check_upload", request_method="GET")
def check_upload(request: Request) -> Response:
    """204 when the caller may upload a model file, as the server's body gate
    judges it from the headers (``entrypoints.web.credentials``): an admin's
    valid access token, or an admin's session cookie with its CSRF token. For
    a reverse proxy's ``auth_request``."""
    composition = request.registry[REGISTRY_KEY]
    tokens = TokenCheck(composition.signer, composition.clock)
    token = bearer_token(request.headers.get("Authorization"))
    if token is not None:
        # Checked here for the token's own message (expired, wrong type...).
        tokens.claims(token, ACCESS)
    presented = Presented.from_request(request)
    credentials = HeaderCredentials(tokens, request.registry[SESSIONS_KEY])
    if not credentials.may_call(presented):
        raise NotAuthenticated()
    if credentials.denies_admin(presented):
        raise PermissionDenied()
    return Response(status=204)
