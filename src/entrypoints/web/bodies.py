"""Reading request bodies: JSON decoding and colander validation.

Unless its route is public, a caller without credentials hears 401 before
anything about their body, as they would with a valid one, and before the
body is read: the server may have withheld it (``entrypoints.web.gate``).
"""

from __future__ import annotations

import json
from typing import Any

import colander
from pyramid.request import Request

from domain.errors import Invalid, NotAuthenticated
from entrypoints.web.routes import ROUTES

MAX_JSON_BODY = 1024 * 1024
# A page's form (a model's fields, a sign-in): a few KiB in practice.
MAX_FORM_BODY = 64 * 1024


def json_body(request: Request, *, optional: bool = False) -> Any:
    """The decoded JSON body; ``None`` when empty and ``optional``."""
    return _decode(request, optional)


def validated(request: Request, schema: colander.SchemaNode, *, optional: bool = False) -> dict:
    """The JSON object body checked against ``schema`` (unknown keys dropped)."""
    body = _decode(request, optional)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise Invalid("Invalid data. Expected a dictionary.")
    try:
        return schema.deserialize(body)
    except colander.Invalid as exc:
        raise Invalid(fields={name: [msg] for name, msg in exc.asdict().items()}) from None


def _decode(request: Request, optional: bool) -> Any:
    if not ROUTES[request.matched_route.name].public and request.identity is None:
        raise NotAuthenticated()
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
    except ValueError as exc:  # UnicodeDecodeError included
        raise Invalid(f"JSON parse error - {exc}") from None
    except RecursionError:
        raise Invalid("JSON parse error - nested too deeply.") from None
