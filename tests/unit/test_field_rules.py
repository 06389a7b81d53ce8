"""The one body validator, checked field by field from the declarations.

Every writable field of every resource is read by ``read_body``, the
function the services call for the API and the batch scripts alike; each
case below is generated from the field's declaration, so a new field is
covered the moment it is declared.
"""

from __future__ import annotations

from typing import Any

import pytest

from domain.fields import Field, Kind, Resource
from domain.resources import RESOURCES, USER
from domain.validation import (
    BAD_URL,
    BLANK,
    NOT_BOOL,
    NOT_INT,
    NOT_NULL,
    NOT_TEXT,
    REQUIRED,
    read_body,
    too_long,
)
from tests.unit.conftest import valid_text

WRITABLE = [(resource, field) for resource in RESOURCES for field in resource.writable]
IDS = [f"{resource.name}.{field.name}" for resource, field in WRITABLE]
FOUND = object()  # what the lookup finds for any reference


def lookup(field: Field, key: Any) -> Any:
    return None if key in ("missing", 404) else FOUND


def good(field: Field) -> Any:
    """A valid value of ``field``."""
    if field.kind is Kind.INT:
        return 7
    if field.kind is Kind.BOOL:
        return True
    return valid_text(field)


def errors_of(resource: Resource, data: dict[str, Any], **options: Any) -> dict[str, list[str]]:
    return read_body(resource, data, lookup=lookup, **options)[1].errors


@pytest.mark.parametrize(("resource", "field"), WRITABLE, ids=IDS)
def test_a_good_value_is_read(resource: Resource, field: Field) -> None:
    values, errors = read_body(resource, {field.name: good(field)}, partial=True, lookup=lookup)
    assert errors.errors == {}
    assert values == {field.name: FOUND if field.references else good(field)}


@pytest.mark.parametrize(("resource", "field"), WRITABLE, ids=IDS)
def test_null_is_refused_unless_the_field_is_nullable(resource: Resource, field: Field) -> None:
    values, errors = read_body(resource, {field.name: None}, partial=True, lookup=lookup)
    if field.nullable:
        assert (values, errors.errors) == ({field.name: None}, {})
    else:
        assert (values, errors.errors) == ({}, {field.name: [NOT_NULL]})


@pytest.mark.parametrize(("resource", "field"), WRITABLE, ids=IDS)
def test_missing_fields(resource: Resource, field: Field) -> None:
    created = errors_of(resource, {}, creating=True).get(field.name)
    replaced = errors_of(resource, {}).get(field.name)
    patched = errors_of(resource, {}, partial=True).get(field.name)
    assert created == ([REQUIRED] if field.required else None)
    assert replaced == ([REQUIRED] if field.required and not field.write_only else None)
    assert patched is None


@pytest.mark.parametrize(("resource", "field"), WRITABLE, ids=IDS)
def test_a_value_of_another_type_is_refused(resource: Resource, field: Field) -> None:
    wrong, message = {
        Kind.STR: (12, NOT_TEXT),
        Kind.INT: ("12", NOT_INT),
        Kind.BOOL: ("true", NOT_BOOL),
    }[field.kind]
    assert errors_of(resource, {field.name: wrong}, partial=True) == {field.name: [message]}
    if field.kind is Kind.INT:  # a boolean is no integer, though Python says so
        assert errors_of(resource, {field.name: True}, partial=True) == {field.name: [message]}


TEXT = [(r, f) for r, f in WRITABLE if f.kind is Kind.STR]
TEXT_IDS = [f"{r.name}.{f.name}" for r, f in TEXT]


@pytest.mark.parametrize(("resource", "field"), TEXT, ids=TEXT_IDS)
def test_text_rules(resource: Resource, field: Field) -> None:
    def problems(value: str) -> list[str] | None:
        return errors_of(resource, {field.name: value}, partial=True).get(field.name)

    assert problems("a\x00b") == ["Null characters are not allowed."]
    assert problems("\ud800") == ["Surrogate characters are not allowed: U+D800."]
    assert problems("") == (None if field.blank else [BLANK])
    assert problems("   ") == (None if field.blank or not field.strip else [BLANK])
    if field.max_length is not None:
        prefix = "https://example.org/" if field.url else ""
        longest = prefix + "x" * (field.max_length - len(prefix))
        if field.pattern is not None:
            longest = valid_text(field).ljust(field.max_length, "0")
            assert problems(longest.upper()) == [field.pattern_message]
        assert problems(longest) is None
        assert problems(longest + "0") == [too_long(field.max_length)]
    if field.url:
        assert problems("ftp://example.org/x") == [BAD_URL]
        assert problems("not a url") == [BAD_URL]


REFERENCES = [(r, f) for r, f in WRITABLE if f.references is not None]


@pytest.mark.parametrize(
    ("resource", "field"), REFERENCES, ids=[f"{r.name}.{f.name}" for r, f in REFERENCES]
)
def test_a_reference_to_nothing_names_the_key(resource: Resource, field: Field) -> None:
    key = 404 if field.kind is Kind.INT else "missing"
    message = (
        f'Invalid pk "{key}" - object does not exist.'
        if field.lookup == "pk"
        else f"Object with {field.lookup}={key} does not exist."
    )
    assert errors_of(resource, {field.name: key}, partial=True) == {field.name: [message]}


@pytest.mark.parametrize("resource", RESOURCES, ids=[r.name for r in RESOURCES])
def test_unknown_and_read_only_fields_are_ignored(resource: Resource) -> None:
    read_only = {f.name: "anything" for f in resource if not f.writable}
    values, errors = read_body(
        resource, {**read_only, "no such field": 1}, partial=True, lookup=lookup
    )
    assert (values, errors.errors) == ({}, {})


def test_every_problem_of_a_body_is_reported_at_once() -> None:
    errors = errors_of(USER, {"username": None, "email": 3, "is_staff": "yes"}, creating=True)
    assert errors == {
        "username": [NOT_NULL],
        "password": [REQUIRED],
        "email": [NOT_TEXT],
        "is_staff": [NOT_BOOL],
    }
