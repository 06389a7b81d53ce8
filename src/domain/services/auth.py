"""Authentication with JSON Web Tokens: obtain, refresh, verify, authenticate."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from domain.clock import Clock
from domain.errors import NotAuthenticated, TooManyRequests
from domain.model import User
from domain.ports import AttemptLog, PasswordHasher, TokenSigner, UnitOfWork

ACCESS = "access"
REFRESH = "refresh"
BAD_CREDENTIALS = "No active account found with the given credentials"
BAD_TOKEN = "Given token not valid for any token type"


@dataclass(frozen=True)
class LoginThrottle:
    """How many failed logins are allowed within ``window``: per username,
    and (more, since a lab may share one address) per client address."""

    per_username: int = 10
    per_address: int = 100
    window: timedelta = timedelta(minutes=1)


class Auth:
    def __init__(
        self,
        uow: UnitOfWork,
        hasher: PasswordHasher,
        signer: TokenSigner,
        clock: Clock,
        access_lifetime: timedelta = timedelta(minutes=5),
        refresh_lifetime: timedelta = timedelta(hours=8),
        attempts: AttemptLog | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.uow = uow
        self.attempts = attempts
        self.throttle = throttle or LoginThrottle()
        self.hasher = hasher
        self.signer = signer
        self.clock = clock
        self.lifetimes = {ACCESS: access_lifetime, REFRESH: refresh_lifetime}
        self._decoy_hash: str | None = None

    def obtain(self, username: Any, password: Any, client: str | None = None) -> dict[str, str]:
        """A token pair for valid credentials of an active user.

        Failed attempts are counted per username and per ``client`` address;
        past the throttle's limits every attempt, right or wrong, is refused
        with ``TooManyRequests`` until the window has moved on.
        """
        if not isinstance(username, str) or not isinstance(password, str):
            raise NotAuthenticated(BAD_CREDENTIALS)
        keys = self._attempt_keys(username, client)
        self._check_throttle(keys)
        user = self.uow.users.get_by_username(username)
        if user is None:
            # Hash anyway so an unknown username takes as long as a wrong password.
            self.hasher.verify(self._decoy(), password)
        if (
            user is None
            or not self.hasher.verify(user.password_hash, password)
            or not user.is_active
        ):
            self._record_failure(keys)
            raise NotAuthenticated(BAD_CREDENTIALS)
        if self.attempts is not None:
            self.attempts.clear(keys[0][0])
        user.last_login = self.clock.now()
        return {ACCESS: self._issue(user, ACCESS), REFRESH: self._issue(user, REFRESH)}

    def _attempt_keys(self, username: str, client: str | None) -> list[tuple[str, int]]:
        keys = [(f"user:{username.casefold()}", self.throttle.per_username)]
        if client:
            keys.append((f"address:{client}", self.throttle.per_address))
        return keys

    def _check_throttle(self, keys: list[tuple[str, int]]) -> None:
        if self.attempts is None:
            return
        now = self.clock.now()
        for key, limit in keys:
            failures = self.attempts.since(key, now - self.throttle.window)
            if len(failures) >= limit:
                # Wait until enough failures have left the window.
                frees_at = failures[len(failures) - limit] + self.throttle.window
                wait = max(1, math.ceil((frees_at - now).total_seconds()))
                raise TooManyRequests(
                    f"Too many failed logins; try again in {wait} seconds.", retry_after=wait
                )

    def _record_failure(self, keys: list[tuple[str, int]]) -> None:
        if self.attempts is not None:
            now = self.clock.now()
            for key, _limit in keys:
                self.attempts.record(key, now)

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
                "gen": user.token_generation,
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
        if claims.get("gen", 0) != user.token_generation:
            raise NotAuthenticated("Token has been revoked")
        return user

    def _decoy(self) -> str:
        if self._decoy_hash is None:
            self._decoy_hash = self.hasher.hash(uuid.uuid4().hex)
        return self._decoy_hash
