"""The security policy: the Bearer access token names the acting user."""

from __future__ import annotations

from pyramid.request import Request

from domain.errors import NotAuthenticated
from domain.model import User


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None when
    there is no Bearer header; ``NotAuthenticated`` when it holds no single
    token."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token or " " in token:
        raise NotAuthenticated("Invalid Authorization header.")
    return token


class BearerTokenSecurityPolicy:
    """Loads the user once per request from ``Authorization: Bearer <access>``.

    No header means anonymous (``None``); a header with a bad, expired or
    revoked token raises ``NotAuthenticated``, so the client learns why.
    Permission checks themselves are domain rules, not Pyramid permissions.
    """

    def identity(self, request: Request) -> User | None:
        token = bearer_token(request.headers.get("Authorization"))
        return None if token is None else request.services.auth.authenticate(token)

    def authenticated_userid(self, request: Request) -> int | None:
        user = request.identity
        return user.pk if user is not None else None

    def permits(self, request: Request, context: object, permission: str) -> bool:
        return True

    def remember(self, request: Request, userid: object, **kw: object) -> list:
        return []

    def forget(self, request: Request, **kw: object) -> list:
        return []
