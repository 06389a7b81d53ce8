"""What a request's headers alone say about who sends it, without the database.

A caller presents an access token (``Authorization: Bearer``), or a session
cookie of the pages with its CSRF token in ``X-CSRF-Token`` (a write the
cookie authenticates needs both). The server's body gate
(``entrypoints.web.gate``) and a proxy's upload check (``auth.check_upload``)
judge requests by these before any body is read; revocation and the
account's state need the database, so the app checks those itself.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from pyramid.request import Request
from webob.cookies import RequestCookies

from domain.errors import NotAuthenticated
from domain.services.auth import ACCESS, TokenCheck
from entrypoints.web.security import bearer_token
from entrypoints.web.sessions import ADMIN, COOKIE_NAME, CSRF_TOKEN, Sessions, signed_in


@dataclass(frozen=True)
class Presented:
    """The headers that carry credentials."""

    authorization: str = ""
    cookie: str = ""
    csrf_token: str = ""

    @classmethod
    def from_server(cls, headers: Mapping[str, str]) -> Presented:
        """From headers keyed as WSGI and waitress key them (``AUTHORIZATION``)."""
        return cls(
            headers.get("AUTHORIZATION", ""),
            headers.get("COOKIE", ""),
            headers.get("X_CSRF_TOKEN", ""),
        )

    @classmethod
    def from_request(cls, request: Request) -> Presented:
        headers = request.headers
        return cls(
            headers.get("Authorization", ""),
            headers.get("Cookie", ""),
            headers.get("X-CSRF-Token", ""),
        )


class HeaderCredentials:
    """Judges ``Presented`` credentials by signatures, expiry and claims."""

    def __init__(self, tokens: TokenCheck, sessions: Sessions) -> None:
        self.tokens = tokens
        self.sessions = sessions

    def may_call(self, presented: Presented) -> bool:
        """Whether the credentials may call a route that needs a user."""
        token = self._token(presented)
        if token is not None:
            try:
                self.tokens.claims(token, ACCESS)
            except NotAuthenticated:
                return False
            return True
        return self._session(presented) is not None

    def denies_admin(self, presented: Presented) -> bool:
        """Whether the credentials certainly cannot act as an admin (see
        ``TokenCheck.denies_admin``; a session records the same at sign-in,
        and a change of the user's rights ends it)."""
        token = self._token(presented)
        if token is not None:
            return self.tokens.denies_admin(token)
        state = self._session(presented)
        return state is None or state.get(ADMIN) is False

    def _token(self, presented: Presented) -> str | None:
        """The Bearer token the security policy would read; an empty string
        for a malformed Bearer header (which no session then stands in for)."""
        try:
            return bearer_token(presented.authorization)
        except NotAuthenticated:
            return ""

    def _session(self, presented: Presented) -> dict | None:
        """A signed-in session's state, when the request carries its CSRF token."""
        cookie = RequestCookies({"HTTP_COOKIE": presented.cookie}).get(COOKIE_NAME)
        state = self.sessions.read(cookie)
        expected = state.get(CSRF_TOKEN)
        if not signed_in(state) or not isinstance(expected, str) or not presented.csrf_token:
            return None
        if not hmac.compare_digest(presented.csrf_token.encode(), expected.encode()):
            return None
        return state
