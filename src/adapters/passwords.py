"""Password hashing with Argon2id (argon2-cffi)."""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from domain.ports import PasswordHasher


class Argon2PasswordHasher(PasswordHasher):
    """Salted Argon2id hashes in the PHC string format.

    Without arguments, argon2-cffi's recommended costs apply; tests pass cheap
    ones. A hash records its own parameters, so hashes made with other costs
    still verify.
    """

    def __init__(
        self,
        time_cost: int | None = None,
        memory_cost: int | None = None,
        parallelism: int | None = None,
    ) -> None:
        costs = {
            "time_cost": time_cost,
            "memory_cost": memory_cost,
            "parallelism": parallelism,
        }
        self._hasher = argon2.PasswordHasher(**{k: v for k, v in costs.items() if v is not None})

    def hash(self, password: str) -> str:
        """A fresh salted hash of ``password``."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches; False for a mismatch or an unusable hash."""
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
