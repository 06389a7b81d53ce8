"""Reading create and update bodies by their fields' declarations.

Messages follow the UFDL server so clients can show them unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from domain.errors import Invalid
from domain.fields import Field, Kind, Resource
from domain.model import INT_MAX, fits_int_column

REQUIRED = "This field is required."
NOT_NULL = "This field may not be null."
BLANK = "This field may not be blank."
NOT_TEXT = "Not a valid string."
NOT_INT = "A valid integer is required."
NOT_BOOL = "Must be a valid boolean."
BAD_URL = "Enter a valid URL."


def too_long(limit: int) -> str:
    return f"Ensure this field has no more than {limit} characters."


_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None.

    A NUL character, or half of a UTF-16 surrogate pair (which JSON's
    ``\\ud800`` escapes can produce), is not text any database keeps.
    """
    if "\x00" in value:
        return "Null characters are not allowed."
    surrogate = _SURROGATE.search(value)
    if surrogate is not None:
        return f"Surrogate characters are not allowed: U+{ord(surrogate.group()):X}."
    return None


class FieldErrors:
    """Collects per-field messages and raises them together."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise Invalid(fields=self.errors)


Lookup = Callable[[Field, Any], Any]
"""Finds the record a reference field names (``None`` when there is none)."""


def read_body(
    resource: Resource,
    data: Mapping[str, Any],
    *,
    partial: bool = False,
    creating: bool = False,
    lookup: Lookup | None = None,
) -> tuple[dict[str, Any], FieldErrors]:
    """The writable fields of a create or update body, each checked against
    its declaration, and the problems found.

    Unknown and read-only fields are ignored. ``partial`` (PATCH) makes every
    field optional; a full update (PUT) needs the required fields but the
    write-only ones (``creating`` does). A reference field's value is
    replaced by the record ``lookup`` finds. Fields with a problem are left
    out of the values, so a caller can add its own rules before raising.
    """
    values: dict[str, Any] = {}
    errors = FieldErrors()
    for field in resource.writable:
        if field.name not in data:
            if field.required and not partial and (creating or not field.write_only):
                errors.add(field.name, REQUIRED)
            continue
        value = data[field.name]
        if value is None:
            if field.nullable:
                values[field.name] = None
            else:
                errors.add(field.name, NOT_NULL)
            continue
        problem = value_problem(field, value)
        if problem is None and field.references is not None:
            if lookup is None:
                raise TypeError(f"reading {resource.name} needs a lookup for {field.name}")
            value = lookup(field, value)
            if value is None:
                problem = _no_such_record(field, data[field.name])
        if problem is None:
            values[field.name] = value
        else:
            errors.add(field.name, problem)
    return values, errors


def value_problem(field: Field, value: Any) -> str | None:
    """Why ``value`` (not null) is not a value of ``field``, or None."""
    if field.kind is Kind.STR:
        if not isinstance(value, str):
            return NOT_TEXT
        if (problem := text_problem(value)) is not None:
            return problem
        if not field.blank and not (value.strip() if field.strip else value):
            return BLANK
        if field.max_length is not None and len(value) > field.max_length:
            return too_long(field.max_length)
        if field.url and not is_http_url(value):
            return BAD_URL
        if field.pattern is not None and not re.fullmatch(field.pattern, value):
            return field.pattern_message
        return None
    if field.kind is Kind.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            return NOT_INT
        if not fits_int_column(value):
            return f"Ensure this value is less than or equal to {INT_MAX}."
        return None
    if field.kind is Kind.BOOL:
        return None if isinstance(value, bool) else NOT_BOOL
    raise TypeError(f"no rule reads a {field.kind.value} field from a body")


def _no_such_record(field: Field, key: Any) -> str:
    if field.lookup == "pk":
        return f'Invalid pk "{key}" - object does not exist.'
    return f"Object with {field.lookup}={key} does not exist."


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace."""
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and port_ok
        and not any(c.isspace() for c in value)
    )
