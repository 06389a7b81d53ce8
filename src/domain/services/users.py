"""User accounts: creation and the password rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.clock import Clock
from domain.model import User
from domain.permissions import Actor, require_admin
from domain.ports import PasswordHasher, UnitOfWork
from domain.validation import BLANK, REQUIRED, Reader, present, too_long

USERNAME_MAX = 150
PASSWORD_MAX = 4096
NAME_MAX = 150
EMAIL_MAX = 254
USERNAME_PATTERN = re.compile(r"^[\w.@+-]+\Z")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")


class Users:
    def __init__(self, uow: UnitOfWork, hasher: PasswordHasher, clock: Clock) -> None:
        self.uow = uow
        self.hasher = hasher
        self.clock = clock

    def create(self, actor: Actor, data: Mapping[str, Any]) -> User:
        """A new account; the password is stored only as a slow salted hash."""
        require_admin(actor)
        reader = Reader(data, partial=False)
        values = self._read(reader)
        password = self._password(reader, data.get("password"))
        reader.errors.raise_if_any()
        user = User(**present(values), date_joined=self.clock.now())
        user.password_hash = self.hasher.hash(password)
        self.uow.users.add(user)
        return user

    def _read(self, reader: Reader) -> dict[str, Any]:
        username = reader.text("username", max_length=USERNAME_MAX)
        if isinstance(username, str):
            if not USERNAME_PATTERN.match(username):
                reader.errors.add(
                    "username",
                    "Enter a valid username: letters, digits and @/./+/-/_ only.",
                )
            elif self.uow.users.get_by_username(username) is not None:
                reader.errors.add("username", "A user with that username already exists.")
        email = reader.text("email", max_length=EMAIL_MAX, required=False, allow_blank=True)
        if isinstance(email, str) and email and not EMAIL_PATTERN.match(email):
            reader.errors.add("email", "Enter a valid email address.")
        return {
            "username": username,
            "first_name": reader.text(
                "first_name", max_length=NAME_MAX, required=False, allow_blank=True
            ),
            "last_name": reader.text(
                "last_name", max_length=NAME_MAX, required=False, allow_blank=True
            ),
            "email": email,
            "is_active": reader.boolean("is_active"),
            "is_staff": reader.boolean("is_staff"),
            "is_superuser": reader.boolean("is_superuser"),
        }

    @staticmethod
    def _password(reader: Reader, password: Any) -> str:
        if password is None:
            reader.errors.add("password", REQUIRED)
        elif not isinstance(password, str) or not password:
            reader.errors.add("password", BLANK)
        elif len(password) > PASSWORD_MAX:
            reader.errors.add("password", too_long(PASSWORD_MAX))
        else:
            return password
        return ""
