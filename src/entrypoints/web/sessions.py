"""The browser session: a signed cookie naming the signed-in user.

Pyramid's ``SignedCookieSessionFactory`` keeps the session in the cookie
itself, signed (HMAC-SHA512) with a secret derived from the token signing
key, so every instance behind a proxy reads it without shared storage. The
cookie is ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` when the request
came over https (behind a proxy, as its trusted ``X-Forwarded-Proto`` says).

A signed-in session holds the user's pk, the generation of their tokens
when they signed in (``User.token_generation``: a password change, a
deactivation or a change of admin rights bumps it, which ends the session
as it revokes tokens), and whether they were an admin then, which lets the
server refuse a non-admin's upload from its headers, as an access token's
``adm`` claim does. Pyramid's CSRF token lives in the session too.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

from pyramid.csrf import new_csrf_token
from pyramid.interfaces import ISession
from pyramid.request import Request
from pyramid.session import SignedCookieSessionFactory

from domain.errors import NotAuthenticated
from domain.model import User
from domain.permissions import is_admin

COOKIE_NAME = "modelhub_session"
USER = "upk"
GENERATION = "gen"
ADMIN = "adm"
CSRF_TOKEN = "_csrft_"  # where Pyramid's session CSRF storage keeps it


def session_secret(signing_key: str) -> str:
    """The cookie's secret, derived from the token signing key: a key of its
    own, so that a session cookie can never pass for a token or the reverse."""
    return hmac.new(signing_key.encode(), b"modelhub session cookie", hashlib.sha256).hexdigest()


class _Cookies:
    """Just enough of a request for a session to be read from a cookie."""

    def __init__(self, cookies: dict[str, str]) -> None:
        self.cookies = cookies

    def add_response_callback(self, callback: Any) -> None:
        """A session read this way is never written back."""


class Sessions:
    """The app's session factory (``config.set_session_factory``)."""

    def __init__(self, signing_key: str, lifetime: timedelta) -> None:
        seconds = int(lifetime.total_seconds())
        options: dict[str, Any] = {
            "cookie_name": COOKIE_NAME,
            "httponly": True,
            "samesite": "Lax",
            # Ends after this long without a request; renewed at most every
            # tenth of it, so most requests do not send the cookie again.
            "timeout": seconds,
            "reissue_time": max(1, seconds // 10),
            "salt": "modelhub.session.",
        }
        secret = session_secret(signing_key)
        self._plain = SignedCookieSessionFactory(secret, secure=False, **options)
        self._secure = SignedCookieSessionFactory(secret, secure=True, **options)

    def __call__(self, request: Request) -> ISession:
        factory = self._secure if request.scheme == "https" else self._plain
        return factory(request)

    def read(self, cookie: str | None) -> dict[str, Any]:
        """What a cookie's value holds when it is well signed and has not
        timed out, else nothing: for checks outside a request."""
        if not cookie:
            return {}
        session = self._plain(_Cookies({COOKIE_NAME: cookie}))
        return dict(dict.items(session))  # as stored: reading marks nothing


def begin(request: Request, user: User) -> None:
    """Sign ``user`` in: a fresh session, and a fresh CSRF token."""
    session = request.session
    session.invalidate()
    session.update({USER: user.pk, GENERATION: user.token_generation, ADMIN: is_admin(user)})
    new_csrf_token(request)


def end(request: Request) -> None:
    """Sign out: the session forgets the user, and gets a new CSRF token."""
    request.session.invalidate()
    new_csrf_token(request)


def signed_in(state: Any) -> bool:
    """Whether a session (or what ``Sessions.read`` found) names a user."""
    return USER in state


def session_user(request: Request) -> User | None:
    """The user the session names, while it still may act; a session that
    may not (revoked, deactivated) is ended."""
    session = request.session
    if not signed_in(session):
        return None
    try:
        return request.services.auth.resume(session[USER], session.get(GENERATION))
    except NotAuthenticated:
        session.invalidate()
        return None
