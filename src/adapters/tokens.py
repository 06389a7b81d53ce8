"""JSON Web Tokens signed with an HMAC key (PyJWT)."""

from __future__ import annotations

from typing import Any

import jwt

from domain.errors import NotAuthenticated
from domain.ports import TokenSigner

# RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
MIN_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
REQUIRED_CLAIMS = ["exp", "iat", "jti", "upk", "jtt"]


class JwtTokenSigner(TokenSigner):
    """Signs and verifies tokens with one symmetric key and one algorithm."""

    def __init__(self, key: str, algorithm: str = "HS256") -> None:
        if algorithm not in MIN_KEY_BYTES:
            raise ValueError(
                f"unsupported JWT algorithm {algorithm!r}: use one of {', '.join(MIN_KEY_BYTES)}"
            )
        minimum = MIN_KEY_BYTES[algorithm]
        if not key or len(key.encode()) < minimum:
            raise ValueError(
                f"the JWT signing key must be at least {minimum} bytes for {algorithm}; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        self._key = key
        self.algorithm = algorithm

    def sign(self, claims: dict[str, Any]) -> str:
        """A signed token carrying ``claims``."""
        return jwt.encode(claims, self._key, algorithm=self.algorithm)

    def decode(self, token: str) -> dict[str, Any]:
        """The claims of a valid, unexpired token of the configured algorithm.

        Raises ``NotAuthenticated`` for anything else.
        """
        try:
            # Only the configured algorithm: never "none", never what the
            # token's own header asks for.
            return jwt.decode(
                token,
                self._key,
                algorithms=[self.algorithm],
                options={"require": REQUIRED_CLAIMS, "verify_exp": True},
            )
        except (jwt.PyJWTError, UnicodeError):
            # UnicodeError: text that is not UTF-8 encodable, so no token.
            raise NotAuthenticated.bad_token() from None
