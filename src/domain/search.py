"""Searching the catalogue of models: words, facets, an order and a page.

A ``ModelSearch`` is what a person asks of the catalogue; ``spec`` turns it
into the filter language's tree (``domain.filters``), so every repository
answers it as it answers the API's ``list``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain import filters as f
from domain.errors import Invalid
from domain.model import fits_int_column
from domain.paging import PageRequest
from domain.validation import text_problem

# Each sort key and the orderings it stands for (``pk`` breaks ties last).
SORTS: dict[str, tuple[f.OrderBy, ...]] = {
    "newest": (f.OrderBy("creation_time", ascending=False),),
    "oldest": (f.OrderBy("creation_time"),),
    "name": (f.OrderBy("name"),),
    "-name": (f.OrderBy("name", ascending=False),),
    "framework": (f.OrderBy("framework.name"), f.OrderBy("framework.version"), f.OrderBy("name")),
    "domain": (f.OrderBy("domain.description"), f.OrderBy("name")),
}
DEFAULT_SORT = "newest"

# Which soft-deleted models a search shows (admins only; others never see them).
DELETED_CHOICES = ("hide", "include", "only")
# Words of the text beyond these are refused: each costs two expressions.
MAX_WORDS = 10


@dataclass(frozen=True)
class ModelSearch:
    """What a person asks of the catalogue.

    - ``text``: words that must each appear in the name or the description,
      in any case;
    - ``framework`` (pk), ``domain`` (short name), ``licence`` (name): only
      models with that one;
    - ``has_file``: True, only models with a file to download (stored, or
      fetched from its source on first use); False, only those without;
    - ``upstream``: True, only models with a source URL; False, only those
      without (uploaded here);
    - ``deleted``: ``hide``, ``include`` or ``only`` soft-deleted models;
    - ``sort``: a key of ``SORTS``; ``page``: which page of how many.
    """

    text: str = ""
    framework: int | None = None
    domain: str | None = None
    licence: str | None = None
    has_file: bool | None = None
    upstream: bool | None = None
    deleted: str = "hide"
    sort: str = DEFAULT_SORT
    page: PageRequest = field(default_factory=PageRequest)

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise Invalid.field("sort", f"Sort by one of: {', '.join(SORTS)}.")
        if self.framework is not None and not fits_int_column(self.framework):
            raise Invalid.field("framework", "No such framework.")
        if self.deleted not in DELETED_CHOICES:
            raise Invalid.field("deleted", f"One of: {', '.join(DELETED_CHOICES)}.")
        problem = text_problem(self.text)
        if problem is None and len(self.text) > f.MAX_TEXT:
            problem = f"A search holds at most {f.MAX_TEXT} characters."
        if problem is None and len(self.words) > MAX_WORDS:
            problem = f"A search holds at most {MAX_WORDS} words."
        if problem is not None:
            raise Invalid.field("q", problem)

    @property
    def words(self) -> list[str]:
        return self.text.split()

    def spec(self, may_see_deleted: bool) -> f.FilterSpec:
        """The filter of this search; soft-deleted models are left out unless
        ``may_see_deleted`` and the search asks for them."""
        expressions: list[f.Expression] = [
            f.Or(
                (
                    f.Contains("name", word, case_insensitive=True),
                    f.Contains("description", word, case_insensitive=True),
                )
            )
            for word in self.words
        ]
        if self.framework is not None:
            expressions.append(f.Exact("framework", self.framework))
        if self.domain is not None:
            expressions.append(f.Exact("domain.name", self.domain))
        if self.licence is not None:
            expressions.append(f.Exact("licence.name", self.licence))
        if self.has_file is not None:
            expressions.append(f.Exact("data", self.has_file))
        if self.upstream is not None:
            expressions.append(f.IsNull("source", invert=self.upstream))
        deleted = self.deleted if may_see_deleted else "hide"
        if deleted != "include":
            expressions.append(f.IsNull("deletion_time", invert=deleted == "only"))
        return f.FilterSpec(tuple(expressions), SORTS[self.sort], include_inactive=True)
