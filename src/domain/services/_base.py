"""What the resource services share: lookup by pk and filtered listing."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from domain.errors import NotFound
from domain.fields import Resource
from domain.filters import parse_filter
from domain.permissions import Actor, require_admin, require_authenticated
from domain.ports import Repository

T = TypeVar("T")


def existing(entity: T | None) -> T:
    """``entity``, found by a lookup; ``NotFound`` when the lookup found none."""
    if entity is None:
        raise NotFound()
    return entity


class ReadableResource(Generic[T]):
    """List and retrieve for any authenticated user."""

    resource: Resource

    def __init__(self, repository: Repository[T]) -> None:
        self.repository = repository

    def list(self, actor: Actor, raw_filter: Any = None) -> list[T]:
        require_authenticated(actor)
        return self.repository.list(parse_filter(raw_filter, self.resource.filters))

    def retrieve(self, actor: Actor, pk: int) -> T:
        require_authenticated(actor)
        return self._get(pk)

    def for_change(self, actor: Actor, pk: int) -> T:
        """The record, for an actor about to change it."""
        require_admin(actor)
        return self._get(pk)

    def _get(self, pk: int) -> T:
        return existing(self.repository.get(pk))
