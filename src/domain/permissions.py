"""Who may do what: the two permission levels of the API.

An *actor* is the acting user: ``None`` when anonymous, or ``SYSTEM`` for
batch scripts run by the operator, who acts as an admin.
"""

from __future__ import annotations

from domain.errors import NotAuthenticated, PermissionDenied
from domain.model import User

SYSTEM = User(username="<system>", is_staff=True, is_superuser=True)

Actor = User | None


def require_authenticated(actor: Actor) -> User:
    if actor is None or not actor.is_active:
        raise NotAuthenticated()
    return actor


def is_admin(user: User) -> bool:
    """Whether ``user`` holds the admin level (the UFDL ``is_staff`` flag)."""
    return user.is_staff


def require_admin(actor: Actor) -> User:
    user = require_authenticated(actor)
    if not is_admin(user):
        raise PermissionDenied()
    return user


def is_system(actor: Actor) -> bool:
    return actor is SYSTEM
