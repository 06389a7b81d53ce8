"""Field rules shared by the services: required, text length, URLs.

Messages follow the UFDL server so clients can show them unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from domain.errors import Invalid
from domain.model import INT_MAX, fits_int_column

REQUIRED = "This field is required."
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

    def __contains__(self, name: str) -> bool:
        return name in self.errors

    def raise_if_any(self) -> None:
        if self.errors:
            raise Invalid(fields=self.errors)


def present(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values a ``Reader`` actually read (absent and invalid ones dropped)."""
    return {k: v for k, v in values.items() if v is not Reader.MISSING}


class Reader:
    """Reads the writable fields of a create/update body, checking each.

    ``partial`` (PATCH) makes every field optional; an absent optional field
    yields ``MISSING`` and is left unchanged by the caller.
    """

    MISSING = object()

    def __init__(self, data: Mapping[str, Any], partial: bool) -> None:
        self.data = data
        self.partial = partial
        self.errors = FieldErrors()

    def _get(self, name: str, required: bool) -> Any:
        if name not in self.data or self.data[name] is None:
            if required and not self.partial:
                self.errors.add(name, REQUIRED)
            return self.MISSING
        return self.data[name]

    def text(
        self,
        name: str,
        *,
        max_length: int | None = None,
        required: bool = True,
        allow_blank: bool = False,
    ) -> Any:
        value = self._get(name, required)
        if value is self.MISSING:
            return value
        if not isinstance(value, str):
            self.errors.add(name, NOT_TEXT)
        elif (problem := text_problem(value)) is not None:
            self.errors.add(name, problem)
        elif not allow_blank and not value.strip():
            self.errors.add(name, BLANK)
        elif max_length is not None and len(value) > max_length:
            self.errors.add(name, too_long(max_length))
        else:
            return value
        return self.MISSING

    def url(self, name: str, *, max_length: int = 200, required: bool = True) -> Any:
        value = self.text(name, max_length=max_length, required=required)
        if isinstance(value, str) and not is_http_url(value):
            self.errors.add(name, BAD_URL)
            return self.MISSING
        return value

    def integer(self, name: str, *, required: bool = True) -> Any:
        value = self._get(name, required)
        if value is self.MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.errors.add(name, NOT_INT)
            return self.MISSING
        if not fits_int_column(value):
            self.errors.add(name, f"Ensure this value is less than or equal to {INT_MAX}.")
            return self.MISSING
        return value

    def boolean(self, name: str) -> Any:
        value = self._get(name, required=False)
        if value is self.MISSING:
            return value
        if not isinstance(value, bool):
            self.errors.add(name, NOT_BOOL)
            return self.MISSING
        return value


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
