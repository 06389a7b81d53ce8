"""User accounts: the users API and the password rules.

Admins manage accounts; a user may read their own. Accounts are never
removed, only deactivated, and deactivating an account or changing its
password revokes every token issued to it before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.clock import Clock
from domain.errors import Conflict, NotFound, PermissionDenied
from domain.filters import USER_FIELDS, parse_filter
from domain.model import User
from domain.permissions import Actor, require_admin, require_authenticated
from domain.ports import PasswordHasher, UnitOfWork
from domain.validation import BLANK, REQUIRED, Reader, present, text_problem, too_long

USERNAME_MAX = 150
PASSWORD_MAX = 4096
NAME_MAX = 150
EMAIL_MAX = 254
USERNAME_PATTERN = re.compile(r"^[\w.@+-]+\Z")
RESERVED_USERNAMES = frozenset({"list", "create"})
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")


class Users:
    def __init__(self, uow: UnitOfWork, hasher: PasswordHasher, clock: Clock) -> None:
        self.uow = uow
        self.hasher = hasher
        self.clock = clock

    def list(self, actor: Actor, raw_filter: Any = None) -> list[User]:
        require_admin(actor)
        return self.uow.users.list(parse_filter(raw_filter, USER_FIELDS))

    def retrieve(self, actor: Actor, pk: int) -> User:
        """A user by pk: admins see anyone, users only themselves."""
        user = require_authenticated(actor)
        if not user.is_staff and user.pk != pk:
            raise PermissionDenied()
        return self._get(self.uow.users.get(pk))

    def get_by_username(self, actor: Actor, username: str) -> User:
        user = require_authenticated(actor)
        if not user.is_staff and user.username != username:
            raise PermissionDenied()
        if text_problem(username) is not None:
            raise NotFound()  # no account can have such a name
        return self._get(self.uow.users.get_by_username(username))

    def create(self, actor: Actor, data: Mapping[str, Any]) -> User:
        """A new account; the password is stored only as a slow salted hash."""
        require_admin(actor)
        reader = Reader(data, partial=False)
        values = self._read(reader, None)
        password = self._password(reader, data, required=True)
        reader.errors.raise_if_any()
        user = User(**present(values), date_joined=self.clock.now())
        user.password_hash = self.hasher.hash(password)
        self.uow.users.add(user)
        return user

    def update(self, actor: Actor, pk: int, data: Mapping[str, Any], partial: bool = False) -> User:
        """Full (PUT) or partial (PATCH) update; a ``password`` changes it."""
        admin = require_admin(actor)
        user = self._get(self.uow.users.get(pk))
        reader = Reader(data, partial)
        values = present(self._read(reader, user))
        password = self._password(reader, data, required=False)
        reader.errors.raise_if_any()
        if user.pk == admin.pk and (
            values.get("is_active") is False or values.get("is_staff") is False
        ):
            raise Conflict("You cannot deactivate or demote your own account.")
        deactivated = values.get("is_active") is False and user.is_active
        # Access tokens carry is_staff (see TokenCheck.denies_admin): a change
        # of it must not leave tokens that say otherwise.
        staff_changed = values.get("is_staff", user.is_staff) != user.is_staff
        if deactivated or staff_changed:
            user.revoke_tokens()
        for name, value in values.items():
            setattr(user, name, value)
        if password:
            self._change_password(user, password)
        return user

    def deactivate(self, actor: Actor, pk: int) -> None:
        """Destroy: the account stays, inactive, and its tokens stop working."""
        admin = require_admin(actor)
        user = self._get(self.uow.users.get(pk))
        if user.pk == admin.pk:
            raise Conflict("You cannot deactivate your own account.")
        if user.is_active:
            user.is_active = False
            user.revoke_tokens()

    def set_password(self, actor: Actor, username: str, password: Any) -> User:
        """Change a user's password by name (an admin's or script's action)."""
        require_admin(actor)
        user = self._get(self.uow.users.get_by_username(username))
        reader = Reader({"password": password}, partial=False)
        new = self._password(reader, {"password": password}, required=True)
        reader.errors.raise_if_any()
        self._change_password(user, new)
        return user

    def _change_password(self, user: User, password: str) -> None:
        user.password_hash = self.hasher.hash(password)
        user.revoke_tokens()

    @staticmethod
    def _get(user: User | None) -> User:
        if user is None:
            raise NotFound()
        return user

    def _read(self, reader: Reader, current: User | None) -> dict[str, Any]:
        username = reader.text("username", max_length=USERNAME_MAX)
        if isinstance(username, str):
            if not USERNAME_PATTERN.match(username):
                reader.errors.add(
                    "username",
                    "Enter a valid username: letters, digits and @/./+/-/_ only.",
                )
            elif username.isdigit() or username in RESERVED_USERNAMES:
                # /v1/users/{username} must not be read as a pk or an action.
                reader.errors.add("username", "This username is reserved or looks like a number.")
            else:
                other = self.uow.users.get_by_username(username)
                if other is not None and other is not current:
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
    def _password(reader: Reader, data: Mapping[str, Any], *, required: bool) -> str:
        """The new password, checked; "" when absent and not required."""
        password = data.get("password")
        if password is None:
            if required:
                reader.errors.add("password", REQUIRED)
        elif not isinstance(password, str) or not password:
            reader.errors.add("password", BLANK)
        elif (problem := text_problem(password)) is not None:
            reader.errors.add("password", problem)
        elif len(password) > PASSWORD_MAX:
            reader.errors.add("password", too_long(PASSWORD_MAX))
        else:
            return password
        return ""
