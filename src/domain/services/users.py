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
from domain.filters import parse_filter
from domain.model import User
from domain.permissions import Actor, is_admin, require_admin, require_authenticated
from domain.ports import PasswordHasher, UnitOfWork
from domain.resources import USER
from domain.services._base import existing
from domain.validation import FieldErrors, read_body, text_problem

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
        return self.uow.users.list(parse_filter(raw_filter, USER.filters))

    def retrieve(self, actor: Actor, pk: int) -> User:
        """A user by pk: admins see anyone, users only themselves."""
        user = require_authenticated(actor)
        if not is_admin(user) and user.pk != pk:
            raise PermissionDenied()
        return existing(self.uow.users.get(pk))

    def for_change(self, actor: Actor, pk: int) -> User:
        """The account, for an admin about to change it."""
        require_admin(actor)
        return existing(self.uow.users.get(pk))

    def get_by_username(self, actor: Actor, username: str) -> User:
        user = require_authenticated(actor)
        if not is_admin(user) and user.username != username:
            raise PermissionDenied()
        if text_problem(username) is not None:
            raise NotFound()  # no account can have such a name
        return existing(self.uow.users.get_by_username(username))

    def create(self, actor: Actor, data: Mapping[str, Any]) -> User:
        """A new account; the password is stored only as a slow salted hash."""
        require_admin(actor)
        values = self._read(data, None, partial=False)
        password = values.pop("password")
        user = User(
            **values, password_hash=self.hasher.hash(password), date_joined=self.clock.now()
        )
        self.uow.users.add(user)
        return user

    def update(self, actor: Actor, pk: int, data: Mapping[str, Any], partial: bool = False) -> User:
        """Full (PUT) or partial (PATCH) update; a ``password`` changes it."""
        admin = require_admin(actor)
        user = existing(self.uow.users.get(pk))
        values = self._read(data, user, partial=partial)
        password = values.pop("password", None)
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
        user = existing(self.uow.users.get(pk))
        if user.pk == admin.pk:
            raise Conflict("You cannot deactivate your own account.")
        if user.is_active:
            user.is_active = False
            user.revoke_tokens()

    def set_password(self, actor: Actor, username: str, password: Any) -> User:
        """Change a user's password by name (an admin's or script's action)."""
        require_admin(actor)
        user = existing(self.uow.users.get_by_username(username))
        values, errors = read_body(USER, {"password": password}, partial=True)
        errors.raise_if_any()
        self._change_password(user, values["password"])
        return user

    def _change_password(self, user: User, password: str) -> None:
        user.password_hash = self.hasher.hash(password)
        user.revoke_tokens()

    def _read(self, data: Mapping[str, Any], current: User | None, partial: bool) -> dict:
        """The body's fields, checked, with the rules on usernames and emails."""
        values, errors = read_body(USER, data, partial=partial, creating=current is None)
        self._check_username(values.get("username"), current, errors)
        email = values.get("email")
        if email and not EMAIL_PATTERN.match(email):
            errors.add("email", "Enter a valid email address.")
        errors.raise_if_any()
        return values

    def _check_username(
        self, username: str | None, current: User | None, errors: FieldErrors
    ) -> None:
        if username is None:
            return
        if not USERNAME_PATTERN.match(username):
            errors.add("username", "Enter a valid username: letters, digits and @/./+/-/_ only.")
        elif username.isdigit() or username in RESERVED_USERNAMES:
            # /v1/users/{username} must not be read as a pk or an action.
            errors.add("username", "This username is reserved or looks like a number.")
        else:
            other = self.uow.users.get_by_username(username)
            if other is not None and other is not current:
                errors.add("username", "A user with that username already exists.")
