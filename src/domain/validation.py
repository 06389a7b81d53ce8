"""Field rules shared by the services: required, text length, URLs.

Messages follow the UFDL server so clients can show them unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from domain.errors import Invalid
from domain.filters import fits_in_64_bits

REQUIRED = "This field is required."
BLANK = "This field may not be blank."
NOT_TEXT = "Not a valid string."
NOT_INT = "A valid integer is required."
NOT_BOOL = "Must be a valid boolean."
BAD_URL = "Enter a valid URL."


def too_long(limit: int) -> str:
    return f"Ensure this field has no more than {limit} characters."


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
        if not fits_in_64_bits(value):
            self.errors.add(name, "Ensure this value fits in a 64-bit integer.")
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
