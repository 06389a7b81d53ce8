"""The catalogue's query string: a bookmarkable search, read and written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.errors import Invalid
from domain.paging import PageRequest
from domain.search import DEFAULT_SORT, ModelSearch

_NUMBER = re.compile(r"[0-9]{1,10}")
# The query's values for the yes/no facets.
FILE_CHOICES = {"yes": True, "no": False}
ORIGIN_CHOICES = {"upstream": True, "local": False}
PER_PAGE = (10, 20, 50, 100)
DEFAULT_PER_PAGE = 20
SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "name": "Name, A to Z",
    "-name": "Name, Z to A",
    "framework": "Framework",
    "domain": "Domain",
}


def search_of(params: Mapping[str, str]) -> ModelSearch:
    """The search a catalogue URL's query asks for; ``Invalid`` naming the
    parameter that cannot be read."""
    return ModelSearch(
        text=params.get("q", ""),
        framework=_number(params, "framework"),
        domain=params.get("domain") or None,
        licence=params.get("licence") or None,
        has_file=_choice(params, "file", FILE_CHOICES),
        upstream=_choice(params, "origin", ORIGIN_CHOICES),
        deleted=params.get("deleted") or "hide",
        sort=params.get("sort") or DEFAULT_SORT,
        page=PageRequest(
            _number(params, "page") or 1, _number(params, "per_page") or DEFAULT_PER_PAGE
        ),
    )


def query_with(params: Mapping[str, str], **changes: Any) -> dict[str, str]:
    """The query ``params`` with ``changes`` (None removes one), empty
    values left out, so links stay short and bookmarkable."""
    query = {key: value for key, value in params.items() if value}
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = str(value)
    return query


def _number(params: Mapping[str, str], key: str) -> int | None:
    value = params.get(key, "").strip()
    if not value:
        return None
    if not _NUMBER.fullmatch(value):
        raise Invalid.field(key, "Enter a whole number.")
    return int(value)


def _choice(params: Mapping[str, str], key: str, choices: Mapping[str, bool]) -> bool | None:
    value = params.get(key, "")
    if not value:
        return None
    if value not in choices:
        raise Invalid.field(key, f"One of: {', '.join(choices)}.")
    return choices[value]
