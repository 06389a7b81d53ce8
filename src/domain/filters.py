"""The UFDL filter language: parsed and validated here, translated by adapters.

A spec is ``{"expressions": [...], "order_by": [...], "include_inactive": bool}``;
the fields that may appear in it, with their kinds, are a resource's
filterable fields (``Resource.filters``). Parsing turns the JSON into the
small immutable tree below or raises ``Invalid`` naming the problem.

What a spec selects, and in which order, is the same on every repository
(the table of cases in the repository contract tests holds each to it):

- two-valued logic: a comparison with a null value is false, never
  unknown, so its ``invert`` is true; ``isnull`` is true only for null;
- ``exact`` compares equal values, text case-sensitively unless
  ``case_insensitive``; ``contains`` finds the text as it is written, ``%``
  and ``_`` included, case-sensitively unless asked otherwise;
- text compares and sorts by code point, as Python's ``<`` does;
- an ordering puts nulls where ``OrderBy.effective_nulls_first`` says, and
  ``pk`` ascending breaks every tie last;
- ``include_inactive`` is the services' business: repositories list what
  the expressions select, soft-deleted or not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.errors import Invalid
from domain.fields import Kind
from domain.model import fits_int_column
from domain.validation import text_problem

Fields = Mapping[str, Kind]
Value = bool | int | float | str | datetime


@dataclass(frozen=True)
class Exact:
    field: str
    value: Value
    case_insensitive: bool = False
    invert: bool = False


@dataclass(frozen=True)
class Contains:
    field: str
    sub_string: str
    case_insensitive: bool = False
    invert: bool = False


@dataclass(frozen=True)
class IsNull:
    field: str
    invert: bool = False


@dataclass(frozen=True)
class Compare:
    field: str
    operator: str
    value: Value
    invert: bool = False


@dataclass(frozen=True)
class And:
    sub_expressions: tuple[Expression, ...]
    invert: bool = False


@dataclass(frozen=True)
class Or:
    sub_expressions: tuple[Expression, ...]
    invert: bool = False


Expression = Exact | Contains | IsNull | Compare | And | Or


@dataclass(frozen=True)
class OrderBy:
    """One sort key. ``nulls_first=None`` means: nulls sort as the largest
    values (last ascending, first descending), the same on every backend."""

    field: str
    ascending: bool = True
    nulls_first: bool | None = None

    @property
    def effective_nulls_first(self) -> bool:
        return (not self.ascending) if self.nulls_first is None else self.nulls_first


@dataclass(frozen=True)
class FilterSpec:
    expressions: tuple[Expression, ...] = ()
    order_by: tuple[OrderBy, ...] = ()
    include_inactive: bool = False

    def narrowed(self, expression: Expression) -> FilterSpec:
        return FilterSpec((*self.expressions, expression), self.order_by, self.include_inactive)


COMPARE_OPERATORS = ("<", ">", "<=", ">=")

# Caps that keep every spec well inside what each database can run (SQLite
# refuses expression trees deeper than 1,000 and LIKE patterns over 50,000
# bytes), the same on every backend. No real search comes near them.
MAX_EXPRESSIONS = 100  # expressions in a spec, ``and``/``or`` and their members included
MAX_DEPTH = 10  # ``and``/``or`` nested in one another
MAX_ORDER_BY = 20
MAX_TEXT = 1000  # characters of a text value or ``sub_string``


def parse_filter(raw: Any, fields: Fields) -> FilterSpec:
    """Parse a filter spec (``None`` or ``{}`` is the empty spec)."""
    if raw is None:
        return FilterSpec()
    if not isinstance(raw, Mapping):
        raise Invalid("Filter specification must be a JSON object.")
    expressions = raw.get("expressions", [])
    if not isinstance(expressions, list):
        raise Invalid("Filter 'expressions' must be a list.")
    order_by = raw.get("order_by", [])
    if not isinstance(order_by, list):
        raise Invalid("Filter 'order_by' must be a list.")
    if len(order_by) > MAX_ORDER_BY:
        raise Invalid(f"Filter 'order_by' may hold at most {MAX_ORDER_BY} entries.")
    include_inactive = raw.get("include_inactive", False)
    if not isinstance(include_inactive, bool):
        raise Invalid("Filter 'include_inactive' must be a boolean.")
    budget = _Budget()
    budget.spend(len(expressions))
    return FilterSpec(
        expressions=tuple(
            _expression(e, fields, f"expressions[{i}]", budget, 0)
            for i, e in enumerate(expressions)
        ),
        order_by=tuple(_order(o, fields, f"order_by[{i}]") for i, o in enumerate(order_by)),
        include_inactive=include_inactive,
    )


class _Budget:
    """Counts a spec's expressions against ``MAX_EXPRESSIONS``: each list of
    them is counted whole before any member is parsed."""

    def __init__(self) -> None:
        self.used = 0

    def spend(self, count: int) -> None:
        self.used += count
        if self.used > MAX_EXPRESSIONS:
            raise Invalid(
                f"A filter may hold at most {MAX_EXPRESSIONS} expressions, "
                "counting those inside 'and' and 'or'."
            )


def _expression(raw: Any, fields: Fields, where: str, budget: _Budget, depth: int) -> Expression:
    if not isinstance(raw, Mapping):
        raise Invalid(f"Filter {where}: an expression must be a JSON object.")
    kind = raw.get("type")
    invert = _flag(raw, "invert", where)
    if kind in ("and", "or"):
        if depth >= MAX_DEPTH:
            raise Invalid(f"Filter {where}: 'and' and 'or' may be nested at most {MAX_DEPTH} deep.")
        subs = raw.get("sub_expressions")
        if not isinstance(subs, list) or not subs:
            raise Invalid(f"Filter {where}: '{kind}' needs a non-empty list 'sub_expressions'.")
        budget.spend(len(subs))
        parsed = tuple(
            _expression(s, fields, f"{where}.sub_expressions[{i}]", budget, depth + 1)
            for i, s in enumerate(subs)
        )
        return (And if kind == "and" else Or)(parsed, invert)
    if kind not in ("exact", "contains", "isnull", "is_null", "compare"):
        raise Invalid(f"Filter {where}: unknown expression type {kind!r}.")
    name = _field(raw, fields, where)
    if kind in ("isnull", "is_null"):
        return IsNull(name, invert)
    if kind == "contains":
        if fields[name] is not Kind.STR:
            raise Invalid(f"Filter {where}: 'contains' needs a text field, not {name!r}.")
        sub = raw.get("sub_string")
        if not isinstance(sub, str):
            raise Invalid(f"Filter {where}: 'sub_string' must be a string.")
        return Contains(name, _text(sub, where), _flag(raw, "case_insensitive", where), invert)
    if "value" not in raw:
        raise Invalid(f"Filter {where}: 'value' is required.")
    if kind == "exact":
        value = _value(raw["value"], fields[name], name, where)
        return Exact(name, value, _flag(raw, "case_insensitive", where), invert)
    operator = raw.get("operator")
    if operator not in COMPARE_OPERATORS:
        raise Invalid(
            f"Filter {where}: unknown operator {operator!r}; "
            f"use one of {', '.join(COMPARE_OPERATORS)}."
        )
    if fields[name] is Kind.BOOL:
        raise Invalid(f"Filter {where}: cannot compare the boolean field {name!r}.")
    return Compare(name, operator, _value(raw["value"], fields[name], name, where), invert)


def _order(raw: Any, fields: Fields, where: str) -> OrderBy:
    if not isinstance(raw, Mapping):
        raise Invalid(f"Filter {where}: an ordering must be a JSON object.")
    name = _field(raw, fields, where)
    nulls_first = raw.get("nulls_first")
    if nulls_first is not None and not isinstance(nulls_first, bool):
        raise Invalid(f"Filter {where}: 'nulls_first' must be a boolean or null.")
    ascending = raw.get("ascending", True)
    if not isinstance(ascending, bool):
        raise Invalid(f"Filter {where}: 'ascending' must be a boolean.")
    return OrderBy(name, ascending, nulls_first)


def _field(raw: Mapping[str, Any], fields: Fields, where: str) -> str:
    name = raw.get("field")
    if not isinstance(name, str):
        raise Invalid(f"Filter {where}: 'field' must be a string.")
    if name not in fields:
        raise Invalid(
            f"Filter {where}: cannot filter or order on field {name!r}; "
            f"allowed fields: {', '.join(sorted(fields))}."
        )
    return name


def _flag(raw: Mapping[str, Any], key: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise Invalid(f"Filter {where}: {key!r} must be a boolean.")
    return value


def _value(value: Any, kind: Kind, name: str, where: str) -> Value:
    problem = f"Filter {where}: value {value!r} does not suit the {kind.value} field {name!r}."
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return value
    elif kind in (Kind.INT, Kind.FLOAT):
        # Floats are compared as floats everywhere; an integer is bound as the
        # column's type, so it must fit an integer column.
        if isinstance(value, float) and math.isfinite(value):
            return value
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if is_int and (kind is Kind.FLOAT or fits_int_column(value)):
            return value
    elif kind is Kind.STR:
        if isinstance(value, str):
            return _text(value, where)
    elif isinstance(value, str):
        return parse_timestamp(value, problem)
    raise Invalid(problem)


def _text(value: str, where: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise Invalid(f"Filter {where}: {problem}")
    if len(value) > MAX_TEXT:
        raise Invalid(f"Filter {where}: a text value may hold at most {MAX_TEXT} characters.")
    return value


def parse_timestamp(text: str, problem: str | None = None) -> datetime:
    """An ISO 8601 timestamp; a naive one is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise Invalid(problem or f"Not an ISO 8601 timestamp: {text!r}.") from None
