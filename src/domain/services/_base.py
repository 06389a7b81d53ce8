"""What the resource services share: lookup by pk and filtered listing."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from domain.errors import NotFound
from domain.filters import Fields, parse_filter
from domain.permissions import Actor, require_authenticated
from domain.ports import Repository

T = TypeVar("T")


class ReadableResource(Generic[T]):
    """List and retrieve for any authenticated user."""

    fields: Fields

    def __init__(self, repository: Repository[T]) -> None:
        self.repository = repository

    def list(self, actor: Actor, raw_filter: Any = None) -> list[T]:
        require_authenticated(actor)
        return self.repository.list(parse_filter(raw_filter, self.fields))

    def retrieve(self, actor: Actor, pk: int) -> T:
        require_authenticated(actor)
        return self._get(pk)

    def _get(self, pk: int) -> T:
        entity = self.repository.get(pk)
        if entity is None:
            raise NotFound()
        return entity
