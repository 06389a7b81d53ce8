"""Translate a domain ``FilterSpec`` into the WHERE and ORDER BY of a Select.

The semantics are specified in ``domain.filters``; in SQL they take:

- two-valued logic: a comparison with a NULL value is false (not unknown),
  so ``invert`` of it is true; leaf predicates on nullable fields are
  therefore written ``field IS NOT NULL AND predicate``;
- text compares and sorts by code point (Python's ``<``): SQLite's default
  BINARY collation does, PostgreSQL is told ``COLLATE "C"``;
- ``contains`` is case-sensitive unless asked otherwise, with ``%``, ``_``
  and the escape character taken literally;
- nulls sort where ``OrderBy.effective_nulls_first`` says, explicitly on
  every backend, and ``pk`` breaks ties last.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, String, and_, func, not_, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from domain import filters as f
from domain.fields import Resource


@dataclass(frozen=True)
class SqlField:
    """A filterable field: its SQL expression and whether it can be NULL."""

    expression: Any  # a ColumnElement or an ORM attribute
    nullable: bool


FieldMap = Mapping[str, SqlField]


def resource_fields(
    resource: Resource,
    columns: Mapping[str, Column[Any]],
    related: Mapping[str, Any] | None = None,
    computed: Mapping[str, SqlField] | None = None,
) -> dict[str, SqlField]:
    """The SQL of every filterable field of ``resource``.

    A field is its column (``pk`` the ``id`` column, a reference its
    ``<name>_id`` column), unless ``computed`` gives its expression; a dotted
    field is an attribute of the outer-joined ``related`` alias of its head.
    """
    fields: dict[str, SqlField] = {}
    for name in resource.filters:
        head, _, attribute = name.partition(".")
        if computed and name in computed:
            fields[name] = computed[name]
        elif attribute:
            # Outer-joined, so NULL whenever the relation is missing.
            fields[name] = SqlField(getattr((related or {})[head], attribute), nullable=True)
        else:
            column = "id" if name == "pk" else f"{name}_id" if resource[name].references else name
            fields[name] = SqlField(columns[column], columns[column].nullable)
    return fields


class CodepointOrder(FunctionElement[str]):
    """A text expression compared and sorted by code point on every backend."""

    name = "codepoint_order"
    inherit_cache = True

    def __init__(self, expression: Any) -> None:
        super().__init__(expression)
        self.type = expression.type


@compiles(CodepointOrder)
def _codepoint_default(element: CodepointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    (inner,) = element.clauses.clauses
    return compiler.process(inner, **kw)


@compiles(CodepointOrder, "postgresql")
def _codepoint_postgresql(element: CodepointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    (inner,) = element.clauses.clauses
    return f'{compiler.process(inner, **kw)} COLLATE "C"'


def _is_text(expression: Any) -> bool:
    return isinstance(getattr(expression, "type", None), String)


def _sortable(expression: Any) -> Any:
    return CodepointOrder(expression) if _is_text(expression) else expression


_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def where(expression: f.Expression, fields: FieldMap) -> ColumnElement[bool]:
    """The SQL condition of one filter expression (never NULL)."""
    if isinstance(expression, (f.And, f.Or)):
        parts = [where(e, fields) for e in expression.sub_expressions]
        condition = and_(*parts) if isinstance(expression, f.And) else or_(*parts)
    else:
        condition = _leaf(expression, fields[expression.field])
    return not_(condition) if expression.invert else condition


def _leaf(expression: f.Exact | f.Contains | f.IsNull | f.Compare, field: SqlField) -> Any:
    column = field.expression
    if isinstance(expression, f.IsNull):
        return column.is_(None)
    if isinstance(expression, f.Exact):
        value = expression.value
        if isinstance(value, bool):
            predicate = column if value else not_(column)
        elif expression.case_insensitive and isinstance(value, str):
            predicate = func.lower(column) == func.lower(value)
        else:
            predicate = column == value
    elif isinstance(expression, f.Contains):
        if expression.case_insensitive:
            predicate = column.icontains(expression.sub_string, autoescape=True)
        else:
            predicate = column.contains(expression.sub_string, autoescape=True)
    else:
        value = expression.value
        left = _sortable(column) if isinstance(value, str) else column
        predicate = _COMPARE[expression.operator](left, value)
    if field.nullable:
        return and_(column.is_not(None), predicate)
    return predicate


def order_by(orderings: Iterable[f.OrderBy], fields: FieldMap) -> list[Any]:
    """ORDER BY clauses for ``orderings``, then ``pk`` ascending."""
    clauses = []
    for ordering in [*orderings, f.OrderBy("pk")]:
        field = fields[ordering.field]
        expression = _sortable(field.expression)
        clause = expression.asc() if ordering.ascending else expression.desc()
        if field.nullable:
            clause = clause.nulls_first() if ordering.effective_nulls_first else clause.nulls_last()
        clauses.append(clause)
    return clauses


def apply_spec(statement: Select[Any], spec: f.FilterSpec, fields: FieldMap) -> Select[Any]:
    """``statement`` narrowed by every expression of ``spec``, in its order.

    ``include_inactive`` is the services' business, not the repositories'.
    """
    for expression in spec.expressions:
        statement = statement.where(where(expression, fields))
    return statement.order_by(*order_by(spec.order_by, fields))
