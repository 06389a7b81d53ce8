"""The security policy: a Bearer access token, or else the session cookie of
the pages, names the acting user."""

from __future__ import annotations

from pyramid.request import Request

from domain.errors import NotAuthenticated
from domain.model import User
from entrypoints.web.sessions import begin, end, session_user


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


class TokenOrSessionSecurityPolicy:
    """Loads the user once per request from ``Authorization: Bearer <access>``,
    or, without one, from the signed-in session (``entrypoints.web.sessions``).

    A header with a bad, expired or revoked token raises ``NotAuthenticated``,
    so the client learns why; a session that may no longer act is ended and
    the request is anonymous (``None``), as is one with neither. Permission
    checks themselves are domain rules, not Pyramid permissions; CSRF checks
    of session-authenticated writes are ``entrypoints.web.csrf``'s.
    """

    def identity(self, request: Request) -> User | None:
        token = bearer_token(request.headers.get("Authorization"))
        if token is not None:
            return request.services.auth.authenticate(token)
        return session_user(request)

    def authenticated_userid(self, request: Request) -> int | None:
        user = request.identity
        return user.pk if user is not None else None

    def permits(self, request: Request, context: object, permission: str) -> bool:
        return True

    def remember(self, request: Request, userid: User, **kw: object) -> list:
        """Sign ``userid`` (the user ``Auth.sign_in`` gave) in for this browser."""
        begin(request, userid)
        return []  # the session sets its own cookie

    def forget(self, request: Request, **kw: object) -> list:
        end(request)
        return []
