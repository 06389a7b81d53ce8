"""Authentication with JSON Web Tokens: obtain, refresh, verify, authenticate."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from domain.clock import Clock
from domain.errors import Invalid, NotAuthenticated, TooManyRequests
from domain.model import User
from domain.permissions import is_admin
from domain.ports import AttemptLog, PasswordHasher, TokenSigner, UnitOfWork
from domain.validation import text_problem

ACCESS = "access"
REFRESH = "refresh"
BAD_CREDENTIALS = "No active account found with the given credentials"
ACCESS_LIFETIME = timedelta(minutes=5)
REFRESH_LIFETIME = timedelta(hours=8)


@dataclass(frozen=True)
class LoginThrottle:
    """How many failed logins are allowed within ``window``: per username
    from one client address, and (more, since a lab may share one address)
    per client address.

    Counting a username's failures per address is what keeps a guesser from
    locking its owner out: failures from one address never refuse the same
    username at another.
    """

    per_username: int = 10
    per_address: int = 100
    window: timedelta = timedelta(minutes=1)


class TokenCheck:
    """What a token's signature, expiry and type tell without the database.

    ``Auth`` adds the checks that need the account (active, not revoked);
    the HTTP server uses this alone to refuse an upload before its body.
    """

    def __init__(self, signer: TokenSigner, clock: Clock) -> None:
        self.signer = signer
        self.clock = clock

    def claims(self, token: Any, *kinds: str) -> dict[str, Any]:
        """The claims of a well-signed, unexpired token of one of ``kinds``
        (access or refresh when none is given).

        Raises ``NotAuthenticated`` otherwise.
        """
        if not isinstance(token, str) or not token:
            raise NotAuthenticated.bad_token()
        claims = self.signer.decode(token)
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp <= self.clock.now().timestamp():
            raise NotAuthenticated("Token is invalid or expired")
        if claims.get("jtt") not in (kinds or (ACCESS, REFRESH)):
            raise NotAuthenticated("Token has wrong type")
        return claims

    def denies_admin(self, token: Any) -> bool:
        """Whether ``token`` certainly cannot act as an admin: it is no valid
        access token, or it was issued to a user who was not one.

        Tokens record ``is_admin`` as ``adm`` when issued, and a change of it
        revokes them (``Users.update``), so "not an admin" is final. A token
        from before tokens recorded it says nothing: the account decides.
        """
        try:
            return self.claims(token, ACCESS).get("adm") is False
        except NotAuthenticated:
            return True


class Auth:
    def __init__(
        self,
        uow: UnitOfWork,
        hasher: PasswordHasher,
        signer: TokenSigner,
        clock: Clock,
        access_lifetime: timedelta = ACCESS_LIFETIME,
        refresh_lifetime: timedelta = REFRESH_LIFETIME,
        attempts: AttemptLog | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.uow = uow
        self.attempts = attempts
        self.throttle = throttle or LoginThrottle()
        self.hasher = hasher
        self.tokens = TokenCheck(signer, clock)
        self.signer = signer
        self.clock = clock
        self.lifetimes = {ACCESS: access_lifetime, REFRESH: refresh_lifetime}
        self._decoy_hash: str | None = None

    def obtain(self, username: Any, password: Any, client: str | None = None) -> dict[str, str]:
        """A token pair for valid credentials of an active user (``sign_in``)."""
        user = self.sign_in(username, password, client)
        return {ACCESS: self._issue(user, ACCESS), REFRESH: self._issue(user, REFRESH)}

    def sign_in(self, username: Any, password: Any, client: str | None = None) -> User:
        """The active user whose credentials these are; their ``last_login``
        is now.

        Failed attempts are counted per username and ``client`` address, and
        per ``client`` address; past the throttle's limits every attempt from
        there, right or wrong, is refused with ``TooManyRequests`` until the
        window has moved on.
        """
        if not isinstance(username, str) or not isinstance(password, str):
            raise NotAuthenticated(BAD_CREDENTIALS)
        keys = self._attempt_keys(username, client)
        self._check_throttle(keys)
        for name, value in (("username", username), ("password", password)):
            problem = text_problem(value)
            if problem is not None:
                self._record_failure(keys)
                raise Invalid.field(name, problem)
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
            self.attempts.clear(keys[0][0])  # this username at this address only
        user.last_login = self.clock.now()
        return user

    def resume(self, pk: Any, generation: Any) -> User:
        """The active user ``pk`` of a session begun by ``sign_in`` in token
        ``generation`` (``User.token_generation``): a password change, a
        deactivation or a change of admin rights since ends the session, as
        it revokes the user's tokens."""
        return self._user_of({"upk": pk, "gen": generation})

    def refuse_login(self, error: Invalid, client: str | None = None) -> NoReturn:
        """Refuse a login whose input could not be read: it counts as a
        failed attempt from ``client``, so malformed requests are throttled
        like wrong passwords. Raises ``error``, or ``TooManyRequests``."""
        keys = self._attempt_keys(None, client)
        self._check_throttle(keys)
        self._record_failure(keys)
        raise error

    def _attempt_keys(self, username: str | None, client: str | None) -> list[tuple[str, int]]:
        keys = []
        if username is not None:
            # Case-folded, else User, USER, uSer... would each bring a fresh allowance.
            keys.append((f"user:{username.casefold()}@{client or ''}", self.throttle.per_username))
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
        user = self._user_of(self.tokens.claims(token, REFRESH))
        return {ACCESS: self._issue(user, ACCESS)}

    def verify(self, token: Any) -> None:
        """Raise ``NotAuthenticated`` unless ``token`` is valid (either type)."""
        self._user_of(self.tokens.claims(token))

    def authenticate(self, token: Any) -> User:
        """The active user an access token was issued to."""
        return self._user_of(self.tokens.claims(token, ACCESS))

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
                "adm": is_admin(user),
            }
        )

    def _user_of(self, claims: dict[str, Any]) -> User:
        """The active account a token's claims name, unless they are revoked."""
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
