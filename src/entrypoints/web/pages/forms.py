"""Forms: what a submitted form means to the services, and where to go next.

A form stands for the JSON body the API would send, field by field as the
resource declares them (``domain.resources``); the services validate it as
they validate the API's, so a page never checks a value by hand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from domain.errors import Invalid
from domain.fields import Field, Kind, Resource

_DIGITS = re.compile(r"[0-9]{1,10}")


def form_body(resource: Resource, form: Mapping[str, str], *, creating: bool) -> dict[str, Any]:
    """The body a form of ``resource`` stands for.

    - a number field: its digits as a number; empty, left out (so a required
      one is reported missing); anything else as typed, for the services to
      refuse;
    - a yes/no field: a checkbox, true when ticked (a form shows them all);
    - a field that may be null: empty means null;
    - a write-only field (a password): empty, when editing, means unchanged.
    """
    body: dict[str, Any] = {}
    for declared in resource.writable:
        name = declared.name
        if declared.kind is Kind.BOOL:
            body[name] = name in form
            continue
        if name not in form:
            continue
        value = form[name]
        if declared.kind is Kind.INT:
            if _DIGITS.fullmatch(value.strip()):
                body[name] = int(value)
            elif value.strip():
                body[name] = value
        elif declared.nullable and not value.strip():
            body[name] = None
        elif declared.write_only and not value and not creating:
            continue
        else:
            body[name] = value
    return body


@dataclass
class FormState:
    """What a form shows: the values typed, and the problems with them."""

    values: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, list[str]] = field(default_factory=dict)
    message: str = ""

    @classmethod
    def refused(cls, values: Mapping[str, Any], error: Invalid) -> FormState:
        """The form again, each field with its messages; the others above it."""
        fields = dict(error.fields)
        general = [m for key in ("non_field_errors", "detail") for m in fields.pop(key, [])]
        if not error.fields:
            general.append(error.detail)
        return cls(values, fields, " ".join(general))

    def value(self, name: str, default: Any = "") -> Any:
        value = self.values.get(name, default)
        return default if value is None else value


# Labels where the field's name does not read well.
LABELS = {
    "url": "Web page",
    "source": "Source URL",
    "source_sha256": "Pinned SHA-256 of the source",
    "is_active": "Active",
    "is_staff": "Admin",
    "is_superuser": "Superuser",
    "email": "Email address",
}


# Help where the declaration's (written for API clients) does not suit a person.
HELP = {
    "metadata": "Free text: training settings, scores, anything worth knowing.",
    "email": "Optional.",
    "is_staff": "Admins manage models, frameworks, licences and users.",
    "password": "Changing it signs the user out everywhere and revokes their tokens.",
}


@dataclass(frozen=True)
class FormField:
    """How a declared field is asked for on a form."""

    name: str
    label: str
    widget: str  # text, url, textarea, password, checkbox, select
    required: bool
    help: str
    max_length: int | None


def form_fields(
    resource: Resource, *, creating: bool, first: tuple[str, ...] = ()
) -> list[FormField]:
    """The writable fields of ``resource``, each with its widget; those named
    in ``first`` come first, in that order."""
    fields = sorted(
        resource.writable,
        key=lambda f: first.index(f.name) if f.name in first else len(first),
    )
    return [_form_field(f, creating) for f in fields]


def _form_field(declared: Field, creating: bool) -> FormField:
    if declared.kind is Kind.BOOL:
        widget = "checkbox"
    elif declared.references is not None:
        widget = "select"
    elif declared.write_only:
        widget = "password"
    elif declared.url:
        widget = "url"
    elif declared.max_length is None:
        widget = "textarea"
    else:
        widget = "text"
    # A choice explains itself; the declaration's words are for API clients.
    help_text = "" if widget == "select" else declared.description.replace("`", "")
    help_text = HELP.get(declared.name, help_text)
    if declared.write_only and creating:
        help_text = ""
    elif declared.write_only:
        help_text = f"Leave empty to keep it. {help_text}".strip()
    required = declared.required and not declared.blank and (creating or not declared.write_only)
    label = LABELS.get(declared.name, declared.name.replace("_", " ").capitalize())
    return FormField(declared.name, label, widget, required, help_text, declared.max_length)


def entity_values(resource: Resource, entity: Any) -> dict[str, Any]:
    """A record's writable fields as its form shows them: a referenced record
    by the key a body names it with, a write-only field empty."""
    values: dict[str, Any] = {}
    for declared in resource.writable:
        value = None if declared.write_only else getattr(entity, declared.name)
        if value is not None and declared.references is not None:
            value = getattr(value, declared.lookup)
        values[declared.name] = value
    return values


def safe_next(target: str | None, default: str = "/") -> str:
    """Where to go after signing in: a path of this site, else ``default``.

    Only a path that starts with one ``/`` qualifies: never another host
    (``//evil.example``, ``https://…``, ``/\\evil.example``), nor a
    path with control characters.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 32 or c == "\\" for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
