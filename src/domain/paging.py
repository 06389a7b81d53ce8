"""A page of a listing: which records, out of how many."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from domain.errors import Invalid

T = TypeVar("T")

MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class PageRequest:
    """Page ``number`` (from 1) of ``size`` records."""

    number: int = 1
    size: int = 20

    def __post_init__(self) -> None:
        if isinstance(self.number, bool) or not isinstance(self.number, int) or self.number < 1:
            raise Invalid.field("page", "A page number is a whole number from 1.")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise Invalid.field("per_page", "A page size is a whole number.")
        if not 1 <= self.size <= MAX_PAGE_SIZE:
            raise Invalid.field("per_page", f"A page holds from 1 to {MAX_PAGE_SIZE} records.")

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


@dataclass(frozen=True)
class Page(Generic[T]):
    """The records of one page, and how many the whole listing holds."""

    items: list[T]
    total: int
    request: PageRequest

    @property
    def number(self) -> int:
        return self.request.number

    @property
    def pages(self) -> int:
        """How many pages the listing fills (at least one, maybe empty)."""
        return max(1, -(-self.total // self.request.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def first(self) -> int:
        """The position (from 1) of the page's first record; 0 when empty."""
        return self.request.offset + 1 if self.items else 0

    @property
    def last(self) -> int:
        """The position of the page's last record; 0 when empty."""
        return self.request.offset + len(self.items) if self.items else 0
