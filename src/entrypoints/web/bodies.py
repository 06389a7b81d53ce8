"""Reading request bodies: JSON decoding and colander validation."""

from __future__ import annotations

import json
from typing import Any

import colander
from pyramid.request import Request

from domain.errors import Invalid

MAX_JSON_BODY = 1024 * 1024


def json_body(request: Request, *, optional: bool = False) -> Any:
    """The decoded JSON body; ``None`` when empty and ``optional``."""
    length = request.content_length
    if length is not None and length > MAX_JSON_BODY:
        raise Invalid(f"A JSON body may not exceed {MAX_JSON_BODY} bytes.")
    raw = request.body_file.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise Invalid(f"A JSON body may not exceed {MAX_JSON_BODY} bytes.")
    if not raw.strip():
        if optional:
            return None
        raise Invalid("A JSON body is required.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"JSON parse error - {exc}") from None


def validated(request: Request, schema: colander.MappingSchema, *, optional: bool = False) -> dict:
    """The JSON object body checked against ``schema`` (unknown keys dropped)."""
    body = json_body(request, optional=optional)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise Invalid("Invalid data. Expected a dictionary.")
    try:
        return schema.deserialize(body)
    except colander.Invalid as exc:
        raise Invalid(fields={name: [msg] for name, msg in exc.asdict().items()}) from None
