"""Authentication with JSON Web Tokens: obtain, refresh, verify, authenticate."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from domain.clock import Clock
from domain.errors import NotAuthenticated
from domain.model import User
from domain.ports import PasswordHasher, TokenSigner, UnitOfWork

ACCESS = "access"
REFRESH = "refresh"
BAD_CREDENTIALS = "No active account found with the given credentials"
BAD_TOKEN = "Given token not valid for any token type"


class Auth:
    def __init__(
        self,
        uow: UnitOfWork,
        hasher: PasswordHasher,
        signer: TokenSigner,
        clock: Clock,
        access_lifetime: timedelta = timedelta(minutes=5),
        refresh_lifetime: timedelta = timedelta(hours=8),
    ) -> None:
        self.uow = uow
        self.hasher = hasher
        self.signer = signer
        self.clock = clock
        self.lifetimes = {ACCESS: access_lifetime, REFRESH: refresh_lifetime}
        self._decoy_hash: str | None = None

    def obtain(self, username: Any, password: Any) -> dict[str, str]:
        """A token pair for valid credentials of an active user."""
        if not isinstance(username, str) or not isinstance(password, str):
            raise NotAuthenticated(BAD_CREDENTIALS)
        user = self.uow.users.get_by_username(username)
        if user is None:
            # Hash anyway so an unknown username takes as long as a wrong password.
            self.hasher.verify(self._decoy(), password)
            raise NotAuthenticated(BAD_CREDENTIALS)
        if not self.hasher.verify(user.password_hash, password) or not user.is_active:
            raise NotAuthenticated(BAD_CREDENTIALS)
        user.last_login = self.clock.now()
        return {ACCESS: self._issue(user, ACCESS), REFRESH: self._issue(user, REFRESH)}

    def refresh(self, token: Any) -> dict[str, str]:
        """A new access token for a valid refresh token."""
        user = self._user_of(token, REFRESH)
        return {ACCESS: self._issue(user, ACCESS)}

    def verify(self, token: Any) -> None:
        """Raise ``NotAuthenticated`` unless ``token`` is valid (either type)."""
        claims = self._claims(token)
        self._user_of(token, claims.get("jtt"))

    def authenticate(self, token: Any) -> User:
        """The active user an access token was issued to."""
        return self._user_of(token, ACCESS)

    def _issue(self, user: User, kind: str) -> str:
        now = self.clock.now()
        return self.signer.sign(
            {
                "upk": user.pk,
                "jtt": kind,
                "iat": int(now.timestamp()),
                "exp": int((now + self.lifetimes[kind]).timestamp()),
                "jti": uuid.uuid4().hex,
            }
        )

    def _claims(self, token: Any) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise NotAuthenticated(BAD_TOKEN)
        claims = self.signer.decode(token)
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp <= self.clock.now().timestamp():
            raise NotAuthenticated("Token is invalid or expired")
        return claims

    def _user_of(self, token: Any, kind: Any) -> User:
        claims = self._claims(token)
        if claims.get("jtt") != kind or kind not in self.lifetimes:
            raise NotAuthenticated("Token has wrong type")
        upk = claims.get("upk")
        user = self.uow.users.get(upk) if isinstance(upk, int) else None
        if user is None:
            raise NotAuthenticated("User not found")
        if not user.is_active:
            raise NotAuthenticated("User is inactive")
        return user

    def _decoy(self) -> str:
        if self._decoy_hash is None:
            self._decoy_hash = self.hasher.hash(uuid.uuid4().hex)
        return self._decoy_hash
