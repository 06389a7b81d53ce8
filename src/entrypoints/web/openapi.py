"""The OpenAPI 3.1 document of the API, built from the route table.

Every route of ``routes.ROUTES`` has its operations described in
``OPERATIONS`` under the same name, one entry per HTTP method its views
answer. Building the document fails for a route without a description (and
for a description without a route), so the document cannot silently fall
behind the routes. Request schemas follow the colander schemas and the
domain's field rules; response schemas follow ``serializers``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import metadata
from typing import Any

from domain import filters
from domain import resources as r
from domain.fields import Field, Kind, Resource
from domain.filters import COMPARE_OPERATORS, Fields
from domain.model import SUBDESCRIPTOR_TYPES
from domain.services.licences import SUBDESCRIPTOR_METHODS
from domain.services.stats import DEFAULT_TOP, MAX_TOP
from entrypoints.web import tus
from entrypoints.web.bodies import MAX_JSON_BODY
from entrypoints.web.errors import AUTHENTICATE
from entrypoints.web.routes import ROUTES, Route

JSON = "application/json"
Schema = dict[str, Any]

# -- schema helpers -----------------------------------------------------------


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _response_ref(name: str) -> Schema:
    return {"$ref": f"#/components/responses/{name}"}


def _obj(properties: Mapping[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": dict(properties), **extra}
    if required:
        schema["required"] = list(required)
    return schema


def _text(max_length: int | None = None, *, blank: bool = True, **extra: Any) -> Schema:
    """A text field of a request body (``blank``: may be empty or spaces)."""
    schema: Schema = {"type": "string", **extra}
    if not blank:
        schema["minLength"] = 1
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def _url(max_length: int) -> Schema:
    return _text(
        max_length,
        blank=False,
        format="uri",
        description="An absolute http or https URL.",
    )


TIMESTAMP = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601 with microseconds, in UTC: `2026-11-26T23:42:27.123456Z`.",
}
SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}

# -- resources (responses) ----------------------------------------------------


_STRINGS = {"type": "array", "items": {"type": "string"}}
_JSON_TYPES = {Kind.INT: "integer", Kind.STR: "string", Kind.BOOL: "boolean"}


def _shown(field: Field) -> Schema:
    """How a response shows ``field``, from its declaration."""
    if field.kind is Kind.DATETIME:
        schema: Schema = dict(TIMESTAMP)
    elif field.kind is Kind.STR_LIST:
        schema = dict(_STRINGS)
    else:
        schema = {"type": _JSON_TYPES[field.kind]}
    if field.nullable:
        schema["type"] = [schema["type"], "null"]
    if field.description:
        schema["description"] = field.description
    return schema


def _response(resource: Resource, **shown: Schema) -> Schema:
    """Every field of ``resource`` but the write-only ones; ``shown`` replaces
    the schema of those the API shows otherwise than they are written."""
    if unknown := set(shown) - {f.name for f in resource}:
        raise ValueError(f"{resource.name} has no field {', '.join(sorted(unknown))}")
    properties = {f.name: shown.get(f.name) or _shown(f) for f in resource if not f.write_only}
    return _obj(properties, tuple(properties), additionalProperties=False)


FRAMEWORK = _response(r.FRAMEWORK)
DOMAIN = _response(r.DOMAIN)
LICENCE = _response(r.LICENCE)
MODEL = _response(
    r.PRETRAINED_MODEL,
    framework=_ref("Framework"),
    domain={"type": "string", "description": "The domain's description."},
    licence={"type": "string", "description": "The licence's name."},
    data_size={"type": ["integer", "null"], "minimum": 1, "description": "Bytes."},
    data_sha256={**SHA256, "type": ["string", "null"]},
)
USER = _response(r.USER)

# -- request bodies -----------------------------------------------------------


def _field(field: Field, **extra: Any) -> Schema:
    """The schema of a writable field, from its declaration."""
    if field.kind is Kind.STR:
        schema = _url(field.max_length) if field.url else _text(field.max_length, blank=field.blank)
    else:
        schema = {"type": {Kind.INT: "integer", Kind.BOOL: "boolean"}[field.kind]}
    if field.description:
        schema["description"] = field.description
    if field.write_only:
        schema["writeOnly"] = True
    return {**schema, **extra}


def _body(
    resource: Resource, *, creating: bool, example: Schema, partial: bool = False, note: str = ""
) -> Schema:
    """The body of a create (``creating``), a full update or a ``partial`` one."""
    properties = {
        f.name: _field(f, **({"pattern": r"^[\w.@+-]+$"} if f is r.USER["username"] else {}))
        for f in resource.writable
    }
    required = [
        f.name
        for f in resource.writable
        if f.required and not partial and (creating or not f.write_only)
    ]
    description = f"Read-only and unknown fields are ignored; `null` is refused. {note}"
    return _obj(properties, tuple(required), description=description.strip(), example=example)


def _writable(resource: Resource, example: Schema) -> dict:
    """The body of create and full update, and of partial update."""
    return {
        "full": _body(resource, creating=True, example=example),
        "partial": _body(resource, creating=False, example=example, partial=True),
    }


MODEL_BODY = _writable(
    r.PRETRAINED_MODEL,
    {
        "framework": 1,
        "domain": "ic",
        "licence": "MIT",
        "url": "https://example.org/resnet50",
        "description": "ResNet-50 trained on ImageNet",
        "name": "resnet50",
    },
)
FRAMEWORK_BODY = _writable(r.FRAMEWORK, {"name": "pytorch", "version": "2.4"})
LICENCE_BODY = _writable(
    r.LICENCE, {"name": "CC-BY-4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}
)
_CHANGES_PASSWORD = "A `password` changes it and revokes the user's tokens."
USER_BODY = {
    "create": _body(
        r.USER, creating=True, example={"username": "alice", "password": "correct horse battery"}
    ),
    "full": _body(
        r.USER,
        creating=False,
        example={"username": "alice", "is_staff": False},
        note=_CHANGES_PASSWORD,
    ),
    "partial": _body(
        r.USER,
        creating=False,
        partial=True,
        example={"is_staff": True},
        note=_CHANGES_PASSWORD,
    ),
}
SUBDESCRIPTORS_BODY = _obj(
    {
        "type": {"type": "string", "enum": list(SUBDESCRIPTOR_TYPES)},
        "method": {"type": "string", "enum": list(SUBDESCRIPTOR_METHODS)},
        "names": {"type": "array", "items": _text(blank=False)},
    },
    ("type", "method", "names"),
    example={"type": "permissions", "method": "add", "names": ["Commercial use"]},
)
DOWNLOAD_BODY = _obj(
    {
        "filetype": {
            "const": "data",
            "description": "Only `data` is available; any other value is a 415.",
        },
        "params": {
            "type": "object",
            "additionalProperties": {
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
            },
            "description": "Accepted and ignored.",
        },
    },
    description="Optional; an empty body is the same as `{}`.",
    example={"filetype": "data", "params": {}},
)

# -- the filter language ------------------------------------------------------

FILTER_LIMITS = (
    f"At most {filters.MAX_EXPRESSIONS} expressions in all (members of `and` and `or` "
    f"included), `and`/`or` nested at most {filters.MAX_DEPTH} deep, at most "
    f"{filters.MAX_ORDER_BY} `order_by` entries, text values of at most "
    f"{filters.MAX_TEXT} characters."
)


def _filter_schemas(prefix: str, fields: Fields) -> dict[str, Schema]:
    """The filter spec of one resource's ``list``, its fields whitelisted."""
    names = sorted(fields)
    text_fields = sorted(n for n, kind in fields.items() if kind is Kind.STR)
    comparable_fields = sorted(n for n, kind in fields.items() if kind is not Kind.BOOL)
    expression = f"{prefix}Expression"
    invert = {"type": "boolean", "default": False, "description": "Logical NOT."}
    case = {"type": "boolean", "default": False}
    value = {
        "type": ["boolean", "integer", "number", "string"],
        "maxLength": filters.MAX_TEXT,
        "description": "Of the field's kind; timestamps as ISO 8601 text.",
    }

    def kind(*types: str) -> Schema:
        return {"type": "string", "enum": list(types)}

    return {
        f"{prefix}Filter": _obj(
            {
                "expressions": {
                    "type": "array",
                    "items": _ref(expression),
                    "maxItems": filters.MAX_EXPRESSIONS,
                    "description": "Each narrows the result of the previous ones.",
                },
                "order_by": {
                    "type": "array",
                    "items": _ref(f"{prefix}OrderBy"),
                    "maxItems": filters.MAX_ORDER_BY,
                    "description": "Sort keys in order of precedence.",
                },
                "include_inactive": {
                    "type": "boolean",
                    "default": False,
                    "description": "Include soft-deleted records (pretrained models).",
                },
            },
            description=f"A filter specification; every key is optional. {FILTER_LIMITS}",
            **{
                "x-max-expressions": filters.MAX_EXPRESSIONS,
                "x-max-depth": filters.MAX_DEPTH,
                "x-max-order-by": filters.MAX_ORDER_BY,
                "x-max-text": filters.MAX_TEXT,
            },
        ),
        f"{prefix}Field": {"type": "string", "enum": names},
        expression: {
            "oneOf": [
                _obj(
                    {
                        "type": kind("exact"),
                        "field": _ref(f"{prefix}Field"),
                        "value": value,
                        "case_insensitive": case,
                        "invert": invert,
                    },
                    ("type", "field", "value"),
                ),
                _obj(
                    {
                        "type": kind("contains"),
                        "field": {"type": "string", "enum": text_fields},
                        "sub_string": _text(filters.MAX_TEXT),
                        "case_insensitive": case,
                        "invert": invert,
                    },
                    ("type", "field", "sub_string"),
                ),
                _obj(
                    {
                        "type": kind("isnull", "is_null"),
                        "field": _ref(f"{prefix}Field"),
                        "invert": invert,
                    },
                    ("type", "field"),
                ),
                _obj(
                    {
                        "type": kind("compare"),
                        "field": {"type": "string", "enum": comparable_fields},
                        "operator": {"type": "string", "enum": list(COMPARE_OPERATORS)},
                        "value": {**value, "type": ["integer", "number", "string"]},
                        "invert": invert,
                    },
                    ("type", "field", "operator", "value"),
                ),
                _obj(
                    {
                        "type": kind("and", "or"),
                        "sub_expressions": {
                            "type": "array",
                            "items": _ref(expression),
                            "minItems": 1,
                            "maxItems": filters.MAX_EXPRESSIONS,
                        },
                        "invert": invert,
                    },
                    ("type", "sub_expressions"),
                ),
            ],
        },
        f"{prefix}OrderBy": _obj(
            {
                "field": _ref(f"{prefix}Field"),
                "ascending": {"type": "boolean", "default": True},
                "nulls_first": {
                    "type": ["boolean", "null"],
                    "description": "Default: nulls sort as the largest values.",
                },
            },
            ("field",),
        ),
    }


# -- errors -------------------------------------------------------------------

DETAIL = _obj({"detail": {"type": "string"}}, ("detail",))
FIELD_ERRORS = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "description": 'Messages per field, e.g. `{"name": ["This field is required."]}`.',
}


def _header(schema: Schema, description: str, required: bool = True) -> Schema:
    return {"description": description, "required": required, "schema": schema}


RETRY_AFTER = _header({"type": "integer", "minimum": 0}, "Seconds to wait before trying again.")
_DETAIL_JSON = {JSON: {"schema": _ref("Detail")}}


def _error(description: str, **headers: Schema) -> Schema:
    response: Schema = {"description": description, "content": _DETAIL_JSON}
    if headers:
        response["headers"] = headers
    return response


ERRORS: dict[int, tuple[str, Schema]] = {
    400: (
        "BadRequest",
        {
            "description": "The body is not JSON, a field is missing, of the wrong type or "
            "invalid, or the filter is malformed.",
            "content": {JSON: {"schema": {"anyOf": [_ref("Detail"), _ref("FieldErrors")]}}},
        },
    ),
    401: (
        "Unauthorized",
        _error(
            "No access token, or one that is malformed, expired, of the wrong type, revoked "
            "or of an inactive user.",
            **{"WWW-Authenticate": _header({"const": AUTHENTICATE}, "The scheme to use.")},
        ),
    ),
    403: ("Forbidden", _error("The action needs an admin.")),
    404: ("NotFound", _error("No such record.")),
    405: (
        "MethodNotAllowed",
        _error("The path names another action.", Allow=_header({"type": "string"}, "Methods.")),
    ),
    409: ("Conflict", _error("The action conflicts with the record's current state.")),
    410: ("Gone", _error("The pretrained model is soft-deleted.")),
    413: ("TooLarge", _error("The file is larger than the configured limit; nothing is stored.")),
    415: ("UnsupportedFileType", _error("A `filetype` other than `data`.")),
    416: (
        "RangeNotSatisfiable",
        _error(
            "The range lies outside the file.",
            **{
                "Content-Range": _header(
                    {"type": "string", "pattern": r"^bytes \*/\d+$"}, "`bytes */<size>`."
                )
            },
        ),
    ),
    429: ("TooManyRequests", _error("Too many failed logins.", **{"Retry-After": RETRY_AFTER})),
    502: (
        "BadGateway",
        _error(
            "The model's upstream source answered an error, could not be reached, or sent "
            "other bytes than pinned; the detail names the upstream status."
        ),
    ),
    503: (
        "Unavailable",
        _error(
            "The database is unreachable or its connection pool is exhausted, or the "
            "client holds too many connections; nothing changed.",
            **{"Retry-After": RETRY_AFTER},
        ),
    ),
    504: ("GatewayTimeout", _error("The model's upstream source did not answer in time.")),
    507: ("InsufficientStorage", _error("The file store is full; nothing is stored.")),
    412: (
        "PreconditionFailed",
        _error(
            "The request does not speak tus 1.0.0 (`Tus-Resumable` missing or another version).",
            **{"Tus-Version": _header({"const": tus.VERSION}, "The version spoken here.")},
        ),
    ),
    460: (
        "ChecksumMismatch",
        _error("The part does not match its `Upload-Checksum`; nothing of it was kept."),
    ),
}

# -- downloads ----------------------------------------------------------------

_FILE_HEADERS = {
    "ETag": _header({"type": "string", "pattern": '^"[0-9a-f]{64}"$'}, "The quoted SHA-256."),
    "Last-Modified": _header({"type": "string"}, "When the file was attached (HTTP date)."),
    "Accept-Ranges": _header({"const": "bytes"}, "Single byte ranges are served."),
    "Content-Disposition": _header(
        {"const": 'attachment; filename="model.data"'}, "Always the same file name."
    ),
}
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_LENGTH = _header({"type": "integer", "minimum": 0}, "Bytes in this response.")
DOWNLOAD_RESPONSES: dict[int, Schema] = {
    200: {
        "description": "The file.",
        "headers": {**_FILE_HEADERS, "Content-Length": _LENGTH},
        "content": _BINARY,
    },
    206: {
        "description": "The requested range of the file (`Range`, honouring `If-Range`).",
        "headers": {
            **_FILE_HEADERS,
            "Content-Length": _LENGTH,
            "Content-Range": _header(
                {"type": "string", "pattern": r"^bytes \d+-\d+/\d+$"},
                "`bytes <first>-<last>/<size>`.",
            ),
        },
        "content": _BINARY,
    },
    304: {
        "description": "Not modified (`If-None-Match` or `If-Modified-Since`); no body.",
        "headers": {"ETag": _FILE_HEADERS["ETag"]},
    },
}
DOWNLOAD_HEADERS = [
    {
        "name": "Range",
        "in": "header",
        "required": False,
        "description": "One byte range; answered with 206, or 416 when outside the file.",
        "schema": {"type": "string", "pattern": r"^bytes=(\d+-\d*|-\d+)$"},
    },
    {
        "name": "If-Range",
        "in": "header",
        "required": False,
        "description": "The range is served only if this ETag or date still matches.",
        "schema": {"type": "string"},
    },
    {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "304 when the file's ETag is among these.",
        "schema": {"type": "string"},
    },
    {
        "name": "If-Modified-Since",
        "in": "header",
        "required": False,
        "description": "304 when the file is not newer (HTTP date).",
        "schema": {"type": "string"},
    },
]
UPLOAD_BODY = {
    "required": True,
    "description": "The file itself as the raw body, whatever its content type (the UFDL "
    "client sends `application/data` with `Content-Disposition: attachment; "
    "filename=data`), or a `multipart/form-data` body with exactly one file part. "
    "An empty file is a 400.",
    "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": _obj(
                {"file": {"type": "string", "format": "binary"}},
                ("file",),
                description="One part with a file name; other parts are ignored.",
            ),
        },
        "*/*": {"schema": {"type": "string", "format": "binary"}},
    },
}

# -- operations ---------------------------------------------------------------

PUBLIC, AUTHENTICATED, ADMIN = "public", "authenticated", "admin"


@dataclass(frozen=True)
class Operation:
    """One method of one route: what it takes and every status it answers."""

    operation_id: str
    summary: str
    tag: str
    permission: str
    responses: Mapping[int, Schema]
    # Error statuses besides 401, 403 and 503, which follow from the permission.
    errors: tuple[int, ...] = ()
    body: Schema | None = None
    parameters: tuple[Schema, ...] = ()
    description: str = ""

    def render(self) -> Schema:
        responses: dict[str, Schema] = {str(s): r for s, r in sorted(self.responses.items())}
        # A status the operation describes itself keeps its own description.
        statuses = {*self.errors, 503} - set(self.responses)
        if self.permission != PUBLIC:
            statuses.add(401)
        if self.permission == ADMIN:
            statuses.add(403)
        for status in sorted(statuses):
            responses[str(status)] = _response_ref(ERRORS[status][0])
        operation: Schema = {
            "operationId": self.operation_id,
            "summary": self.summary,
            "tags": [self.tag],
        }
        description = {
            PUBLIC: "No login needed.",
            AUTHENTICATED: "Any active user.",
            ADMIN: "Admins only.",
        }[self.permission]
        operation["description"] = f"{self.description} {description}".strip()
        if self.permission == PUBLIC:
            operation["security"] = []
        if self.parameters:
            operation["parameters"] = list(self.parameters)
        if self.body is not None:
            operation["requestBody"] = self.body
        operation["responses"] = dict(sorted(responses.items()))
        return operation


def _json_body(schema: Schema, *, required: bool = True, description: str = "") -> Schema:
    body: Schema = {"required": required, "content": {JSON: {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def _ok(schema: Schema, description: str = "OK.") -> dict[int, Schema]:
    return {200: {"description": description, "content": {JSON: {"schema": schema}}}}


def _created(schema: Schema) -> dict[int, Schema]:
    return {201: {"description": "Created.", "content": {JSON: {"schema": schema}}}}


NO_CONTENT = {204: {"description": "Done; no body."}}


def _array(name: str) -> Schema:
    return {"type": "array", "items": _ref(name)}


def _readable(noun: str, plural: str, schema: str, tag: str) -> dict[str, dict[str, Operation]]:
    """list and retrieve."""
    return {
        "list": {
            "post": Operation(
                f"list_{plural}",
                f"List {plural.replace('_', ' ')}",
                tag,
                AUTHENTICATED,
                _ok(_array(schema)),
                (400,),
                _json_body(_ref(f"{schema}Filter"), required=False),
                description="The body is an optional filter specification.",
            )
        },
        "item": {
            "get": Operation(
                f"retrieve_{noun}",
                f"Read a {noun.replace('_', ' ')}",
                tag,
                AUTHENTICATED,
                _ok(_ref(schema)),
                (404,),
            ),
        },
    }


def _crud(
    noun: str, plural: str, schema: str, tag: str, body: Mapping[str, Schema], destroy: str
) -> dict[str, dict[str, Operation]]:
    """list, create and the item's retrieve, update, partial update and destroy."""
    ops = _readable(noun, plural, schema, tag)
    words = noun.replace("_", " ")
    ops["create"] = {
        "post": Operation(
            f"create_{noun}",
            f"Create a {words}",
            tag,
            ADMIN,
            _created(_ref(schema)),
            (400,),
            _json_body(body["full"]),
        )
    }
    ops["item"].update(
        {
            "put": Operation(
                f"update_{noun}",
                f"Update a {words}",
                tag,
                ADMIN,
                _ok(_ref(schema)),
                (400, 404),
                _json_body(body["full"]),
            ),
            "patch": Operation(
                f"partial_update_{noun}",
                f"Update some fields of a {words}",
                tag,
                ADMIN,
                _ok(_ref(schema)),
                (400, 404),
                _json_body(body["partial"]),
            ),
            "delete": Operation(
                f"destroy_{noun}",
                f"Destroy a {words}",
                tag,
                ADMIN,
                NO_CONTENT,
                (404, 409),
                description=destroy,
            ),
        }
    )
    return ops


def _prefixed(prefix: str, ops: Mapping[str, dict[str, Operation]]) -> dict:
    return {f"{prefix}.{action}": methods for action, methods in ops.items()}


def _model_operations() -> dict[str, dict[str, Operation]]:
    tag = "pretrained-models"
    ops = _crud(
        "pretrained_model",
        "pretrained_models",
        "PretrainedModel",
        tag,
        MODEL_BODY,
        "Soft delete: sets `deletion_time`; again changes nothing.",
    )
    item = ops["item"]
    read_only = "A soft-deleted model is read-only (409) until reinstated."
    item["put"] = replace(item["put"], errors=(400, 404, 409), description=read_only)
    item["patch"] = replace(item["patch"], errors=(400, 404, 409), description=read_only)
    item["delete"] = replace(item["delete"], errors=(404,))
    ops["list"]["post"] = replace(
        ops["list"]["post"],
        description="The body is an optional filter specification; soft-deleted models "
        "are listed only with `include_inactive`.",
    )
    model_ok = _ok(_ref("PretrainedModel"))
    download = (
        "404 also when no file is attached; 410 for a soft-deleted model. A model whose "
        "file is upstream (`data_state` `remote` or `fetching`) streams it as it arrives, "
        "with an `ETag` only when its digest is pinned; 502 or 504 when upstream fails."
    )
    ops["data"] = {
        "post": Operation(
            "set_pretrained_model_file",
            "Attach the model's file, replacing any previous one",
            tag,
            ADMIN,
            model_ok,
            (400, 404, 409, 413, 507),
            UPLOAD_BODY,
            description=read_only,
        ),
        "delete": Operation(
            "delete_pretrained_model_file",
            "Detach the model's file (none attached: no change)",
            tag,
            ADMIN,
            model_ok,
            (404, 409),
            description=read_only,
        ),
    }
    ops["download"] = {
        "post": Operation(
            "download_pretrained_model",
            "Download the model's file",
            tag,
            AUTHENTICATED,
            DOWNLOAD_RESPONSES,
            (400, 404, 410, 415, 416, 502, 504),
            _json_body(_ref("DownloadRequest"), required=False),
            tuple(DOWNLOAD_HEADERS),
            download,
        ),
        "get": Operation(
            "download_pretrained_model_get",
            "Download the model's file",
            tag,
            AUTHENTICATED,
            DOWNLOAD_RESPONSES,
            (404, 410, 416, 502, 504),
            parameters=tuple(DOWNLOAD_HEADERS),
            description=download,
        ),
    }
    ops["fetch"] = {
        "post": Operation(
            "fetch_pretrained_model",
            "Start fetching the model's file from its source",
            tag,
            ADMIN,
            {
                **_ok(_ref("PretrainedModel"), "The file is stored already."),
                202: {
                    "description": "The transfer runs (`data_state` `fetching`).",
                    "content": {JSON: {"schema": _ref("PretrainedModel")}},
                },
            },
            (400, 404, 409, 502, 504),
            description="400 without a source, 409 for a soft-deleted model; a failed "
            "transfer is tried again.",
        )
    }
    ops["hard"] = {
        "delete": Operation(
            "hard_delete_pretrained_model",
            "Delete the model for good; returns it as it was",
            tag,
            ADMIN,
            model_ok,
            (404,),
        )
    }
    ops["reinstate"] = {
        "delete": Operation(
            "reinstate_pretrained_model",
            "Undo a soft delete (an active model: no change)",
            tag,
            ADMIN,
            model_ok,
            (404,),
        )
    }
    return ops


def _licence_operations(spelling: str) -> dict[str, dict[str, Operation]]:
    noun = spelling[:-1]
    ops = _crud(noun, spelling, "Licence", "licences", LICENCE_BODY, "409 while a model uses it.")
    ops["subdescriptors"] = {
        "patch": Operation(
            f"edit_{noun}_subdescriptors",
            "Add names to or remove names from one sub-descriptor list",
            "licences",
            ADMIN,
            _ok(_ref("Licence")),
            (400, 404),
            _json_body(SUBDESCRIPTORS_BODY),
        )
    }
    if spelling != "licences":
        alias = "The same as under `/v1/licences`."
        for methods in ops.values():
            for method, op in methods.items():
                methods[method] = replace(op, description=f"{alias} {op.description}".strip())
    return ops


def _user_operations() -> dict[str, dict[str, Operation]]:
    ops = _crud(
        "user",
        "users",
        "User",
        "users",
        USER_BODY,
        "Deactivates the account (it is never removed) and revokes its tokens; "
        "409 for one's own account.",
    )
    ops["list"]["post"] = replace(ops["list"]["post"], permission=ADMIN)
    ops["create"]["post"] = replace(ops["create"]["post"], body=_json_body(USER_BODY["create"]))
    item = ops["item"]
    item["get"] = replace(
        item["get"], errors=(403, 404), description="Admins, or the user themself."
    )
    # A segment that is not a number is a username, whose route answers GET only.
    by_name = "A `{pk}` that is not a number is read as a username: 405."
    for method in ("put", "patch"):
        item[method] = replace(
            item[method],
            errors=(400, 404, 405, 409),
            description=f"409 when admins would deactivate or demote themselves. {by_name}",
        )
    item["delete"] = replace(
        item["delete"],
        errors=(404, 405, 409),
        description=f"{item['delete'].description} {by_name}",
    )
    ops["by_name"] = {
        "get": Operation(
            "retrieve_user_by_name",
            "Read a user by username",
            "users",
            AUTHENTICATED,
            _ok(_ref("User")),
            (403, 404, 405),
            description="Admins, or the user themself. `list` and `create` name actions, "
            "not users (405).",
        )
    }
    return ops


# -- usage statistics ---------------------------------------------------------

_COUNT = {"type": "integer", "minimum": 0}
_FIGURES = {
    "downloads": {
        **_COUNT,
        "description": "Responses that sent a file's last byte: whole files, and "
        "ranges that complete a resumed download.",
    },
    "bytes_served": {**_COUNT, "description": "Bytes of files sent, cut downloads included."},
    "bytes_fetched": {**_COUNT, "description": "Bytes received from upstream sources."},
}
MODEL_USAGE = _obj(
    {"pk": {"type": "integer", "minimum": 1}, "name": {"type": "string"}, **_FIGURES},
    ("pk", "name", *_FIGURES),
    additionalProperties=False,
)
USAGE_STATS = _obj(
    {
        **_FIGURES,
        "ratio": {
            "type": ["number", "null"],
            "minimum": 0,
            "description": "`bytes_served` / `bytes_fetched`; null while nothing was fetched.",
        },
        "models": {
            "type": "array",
            "items": _ref("ModelUsage"),
            "maxItems": MAX_TOP,
            "description": "The top models by bytes served, then downloads.",
        },
    },
    ("downloads", "bytes_served", "bytes_fetched", "ratio", "models"),
    additionalProperties=False,
    description="Totals since the first download, hard-deleted models included; "
    "those are no longer listed.",
)
TOP_PARAMETER = {
    "name": "top",
    "in": "query",
    "required": False,
    "description": "How many models to list (0 to the maximum); any other value is a 400.",
    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_TOP, "default": DEFAULT_TOP},
}


def _stats_operations() -> dict[str, dict[str, Operation]]:
    return {
        "stats": {
            "get": Operation(
                "usage_stats",
                "Downloads served and bytes fetched upstream, in total and per model",
                "operations",
                ADMIN,
                _ok(_ref("UsageStats")),
                (400,),
                parameters=(TOP_PARAMETER,),
                description="A response counts when it ends: the bytes it sent, and a "
                "download if it sent the file's last byte.",
            )
        }
    }


HEALTH = _obj(
    {
        "status": {"enum": ["ok", "unavailable"]},
        "database": {"type": "string", "description": '`"ok"`, or what failed.'},
        "store": {"type": "string", "description": '`"ok"`, or what failed.'},
    },
    ("status", "database", "store"),
)


def _health_operations() -> dict[str, dict[str, Operation]]:
    health = {JSON: {"schema": _ref("Health")}}
    return {
        "healthz": {
            "get": Operation(
                "healthz",
                "Whether this instance's database and blob store answer",
                "operations",
                PUBLIC,
                {
                    200: {"description": "Both answer.", "content": health},
                    503: {"description": "One or both did not answer.", "content": health},
                },
                description="The database answers a `SELECT 1` and a file can be created "
                "in the blob folder, each within a few seconds. Each instance answers for "
                "itself; nothing is cached.",
            )
        }
    }


def _metrics_operations() -> dict[str, dict[str, Operation]]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "metrics": {
            "get": Operation(
                "metrics",
                "This instance's figures in Prometheus's text format",
                "operations",
                PUBLIC,
                {200: {"description": "Prometheus exposition format 0.0.4.", "content": text}},
                (401, 403, 404),
                description="Requests by route name, method and status; time to the response's "
                "headers by route; bytes served and received; downloads in progress; upstream "
                "transfers started, stored and failed, and bytes fetched. Each instance counts "
                "its own requests since it started: scrape every instance. The setting "
                "`modelhub.metrics` is `public` (the default), `admin` (401 without an admin's "
                "access token, 403 for others) or `off` (404).",
            )
        }
    }


# -- resumable uploads (tus) ----------------------------------------------------


def _tus_header(name: str, schema: Schema, description: str, required: bool = True) -> Schema:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": schema}  # fmt: skip


_COUNT_TEXT = {"type": "string", "pattern": r"^\d+$"}
TUS_RESUMABLE = _tus_header(
    "Tus-Resumable", {"const": tus.VERSION}, f"The protocol's version, `{tus.VERSION}`; else 412."
)
_TUS_ANSWER = {
    "Tus-Resumable": _header({"const": tus.VERSION}, "On every answer of `/v1/uploads`.")
}
_EXPIRES = _header(
    {"type": "string"},
    "When the upload expires unless a part arrives (HTTP date); `modelhub gc` then removes it.",
)


def _upload_operations() -> dict[str, dict[str, Operation]]:
    tag = "uploads"
    about = (
        "The tus 1.0.0 resumable upload protocol (core, creation, termination, expiration, "
        "checksum with sha256), authenticated as the rest of the API; tus clients (tus-js-client, "
        "tuspy, Uppy) speak it."
    )
    return {
        "uploads": {
            "options": Operation(
                "describe_uploads",
                "What this server's tus endpoint supports",
                tag,
                PUBLIC,
                {
                    204: {
                        "description": "No body; the capabilities in the headers.",
                        "headers": {
                            **_TUS_ANSWER,
                            "Tus-Version": _header({"const": tus.VERSION}, "Versions spoken."),
                            "Tus-Extension": _header(
                                {"const": ",".join(tus.EXTENSIONS)}, "Extensions supported."
                            ),
                            "Tus-Max-Size": _header(
                                {"type": "string", "pattern": r"^\d+$"},
                                "The model size limit, in bytes.",
                            ),
                            "Tus-Checksum-Algorithm": _header(
                                {"const": "sha256"}, "For `Upload-Checksum`."
                            ),
                        },
                    }
                },
                description=about,
            ),
            "post": Operation(
                "create_upload",
                "Start a resumable upload of a model's file",
                tag,
                ADMIN,
                {
                    201: {
                        "description": "Created; no body. Send the file's bytes to `Location`.",
                        "headers": {
                            **_TUS_ANSWER,
                            "Location": _header(
                                {"type": "string", "format": "uri"},
                                "The upload's URL, `/v1/uploads/{upload_id}`.",
                            ),
                            "Upload-Expires": _EXPIRES,
                        },
                    }
                },
                (400, 409, 412, 413),
                parameters=(
                    TUS_RESUMABLE,
                    _tus_header("Upload-Length", _COUNT_TEXT, "The file's size in bytes; 0: 400."),
                    _tus_header(
                        "Upload-Metadata",
                        {"type": "string"},
                        "`model <base64 pk>` (required), optionally `,filename <base64 "
                        "UTF-8 name>`; other keys are ignored. A bad value: 400 naming it.",
                    ),
                ),
                description="Refused as set file would refuse the file, before any byte: 400 "
                "(empty, or no such `model`), 409 (the model is soft-deleted), 413 (over "
                f"the size limit). {about}",
            ),
        },
        "uploads.item": {
            "head": Operation(
                "upload_status",
                "Where an upload stands",
                tag,
                AUTHENTICATED,
                {
                    200: {
                        "description": "No body.",
                        "headers": {
                            **_TUS_ANSWER,
                            "Upload-Offset": _header(_COUNT_TEXT, "Bytes received."),
                            "Upload-Length": _header(_COUNT_TEXT, "The file's size."),
                            "Upload-Expires": _EXPIRES,
                            "Upload-Metadata": _header({"type": "string"}, "As created."),
                            "Cache-Control": _header({"const": "no-store"}, "Never cached."),
                        },
                    }
                },
                (404, 412),
                parameters=(TUS_RESUMABLE,),
                description="404 for an upload of another user, terminated, expired or complete.",
            ),
            "patch": Operation(
                "append_to_upload",
                "Send the next part of an upload's file",
                tag,
                ADMIN,
                {
                    204: {
                        "description": "Stored; no body. On the last byte the file is attached "
                        "to the model (then no `Upload-Expires`).",
                        "headers": {
                            **_TUS_ANSWER,
                            "Upload-Offset": _header(_COUNT_TEXT, "Bytes received now."),
                            "Upload-Expires": {**_EXPIRES, "required": False},
                        },
                    }
                },
                (400, 404, 409, 412, 413, 415, 460, 507),
                {
                    "required": True,
                    "description": "The part's bytes.",
                    "content": {tus.PART_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                },
                (
                    TUS_RESUMABLE,
                    _tus_header("Upload-Offset", _COUNT_TEXT, "Where the upload stands; else 409."),
                    _tus_header(
                        "Upload-Checksum",
                        {"type": "string", "pattern": "^sha256 [A-Za-z0-9+/]+=*$"},
                        "`sha256 <base64 digest>` of the part; a mismatch is a 460.",
                        required=False,
                    ),
                ),
                "409 also while another part is being written. The last byte attaches the "
                "file with the rules of set file, checked again (409 if the model was "
                "soft-deleted meanwhile); refused, nothing of the upload is kept.",
            ),
            "delete": Operation(
                "terminate_upload",
                "Abandon an upload and its bytes",
                tag,
                AUTHENTICATED,
                {204: {"description": "Done; no body.", "headers": dict(_TUS_ANSWER)}},
                (404, 412),
                parameters=(TUS_RESUMABLE,),
            ),
        },
    }


def _build_operations() -> dict[str, dict[str, Operation]]:
    """Every documented operation, by route name and method."""
    ops: dict[str, dict[str, Operation]] = {
        "openapi": {
            "get": Operation(
                "openapi",
                "This document",
                "operations",
                PUBLIC,
                _ok(
                    _obj(
                        {"openapi": {"const": "3.1.0"}},
                        ("openapi", "info", "paths"),
                        description="An OpenAPI 3.1 document.",
                    ),
                    "The OpenAPI document of every route.",
                ),
            )
        },
        "auth.obtain": {
            "post": Operation(
                "obtain_tokens",
                "Log in: an access and a refresh token",
                "auth",
                PUBLIC,
                _ok(_ref("TokenPair")),
                (400, 401, 429),
                _json_body(
                    _obj(
                        {"username": {"type": "string"}, "password": {"type": "string"}},
                        ("username", "password"),
                    )
                ),
                description="401 for wrong credentials or an inactive user. Failed attempts "
                "are counted per username and client address; past the limit, 429.",
            )
        },
        "auth.refresh": {
            "post": Operation(
                "refresh_token",
                "A new access token for a refresh token",
                "auth",
                PUBLIC,
                _ok(_obj({"access": {"type": "string"}}, ("access",), additionalProperties=False)),
                (400, 401),
                _json_body(_obj({"refresh": {"type": "string"}}, ("refresh",))),
            )
        },
        "auth.check_upload": {
            "get": Operation(
                "check_upload",
                "Whether the Bearer token may upload a model file",
                "auth",
                ADMIN,
                {204: {"description": "A valid access token of an admin; no body."}},
                description="Judged from the headers alone (the token's signature, "
                "expiry and claims), as the server judges an upload before reading "
                "its body: for a reverse proxy's `auth_request`, so that an upload "
                "it would refuse never reaches the app.",
            )
        },
        "auth.verify": {
            "post": Operation(
                "verify_token",
                "Check a token (access or refresh)",
                "auth",
                PUBLIC,
                _ok({"type": "object", "maxProperties": 0}, "Valid: `{}`."),
                (400, 401),
                _json_body(_obj({"token": {"type": "string"}}, ("token",))),
            )
        },
    }
    ops.update(_prefixed("models", _model_operations()))
    ops.update(
        _prefixed(
            "frameworks",
            _crud(
                "framework",
                "frameworks",
                "Framework",
                "frameworks",
                FRAMEWORK_BODY,
                "409 while a model uses it.",
            ),
        )
    )
    ops.update(_prefixed("domains", _readable("domain", "domains", "Domain", "domains")))
    for spelling in ("licences", "licenses"):
        ops.update(_prefixed(spelling, _licence_operations(spelling)))
    ops.update(_prefixed("users", _user_operations()))
    ops.update(_stats_operations())
    ops.update(_health_operations())
    ops.update(_metrics_operations())
    ops.update(_upload_operations())
    return ops


OPERATIONS = _build_operations()

# -- paths --------------------------------------------------------------------

PATH_PARAMETERS: dict[str, Schema] = {
    "pk": {
        "name": "pk",
        "in": "path",
        "required": True,
        "description": "A primary key: a positive integer, no leading zeros; 404 otherwise.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "upload_id": {
        "name": "upload_id",
        "in": "path",
        "required": True,
        "description": "The id in the upload's `Location`; any other: 404.",
        "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    },
    "username": {
        "name": "username",
        "in": "path",
        "required": True,
        "description": "A username; a segment of digits only is read as a pk.",
        "schema": {"type": "string", "pattern": r"^[^/]*[^/0-9][^/]*$"},
    },
}
_PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def canonical_path(pattern: str) -> str:
    """A route pattern as an OpenAPI path: placeholders without their regex."""
    return _PLACEHOLDER.sub(r"{\1}", pattern)


def _paths(routes: Mapping[str, Route]) -> dict[str, Schema]:
    missing = sorted(set(routes) - set(OPERATIONS))
    if missing:
        raise LookupError(f"routes without documented operations: {', '.join(missing)}")
    unknown = sorted(set(OPERATIONS) - set(routes))
    if unknown:
        raise LookupError(f"documented operations without a route: {', '.join(unknown)}")
    paths: dict[str, Schema] = {}
    for name, route in routes.items():
        path = canonical_path(route.pattern)
        item: Schema = {
            method: operation.render() for method, operation in OPERATIONS[name].items()
        }
        placeholders = _PLACEHOLDER.findall(route.pattern)
        if placeholders:
            item["parameters"] = [PATH_PARAMETERS[p] for p in placeholders]
        paths[path] = item
    return paths


DESCRIPTION = f"""\
A self-hosted registry of pretrained deep-learning models, speaking the
pretrained-models part of the UFDL REST API.

Every path also answers with a trailing slash. Requests and responses are JSON
(UTF-8) unless stated; an empty body is allowed wherever the body is optional,
and a JSON body may hold at most {MAX_JSON_BODY} bytes. Read-only and unknown
fields of a body are ignored; a value of the wrong type is a 400 on that field,
and so is text holding a NUL character or half of a surrogate pair. A `GET`
also answers `HEAD`.

Errors are `{{"detail": "..."}}`, or per-field messages
`{{"field": ["...", ...]}}` for invalid fields. Send the access token of
`/v1/auth/obtain` as `Authorization: Bearer <access>`. A 500 is always a bug.
A request whose header section is over the HTTP server's limit is refused by
the server itself: 431, in plain text.
"""


def _version() -> str:
    try:
        return metadata.version("modelhub")
    except metadata.PackageNotFoundError:  # pragma: no cover - always installed
        return "0"


def build_document(routes: Mapping[str, Route] = ROUTES) -> dict[str, Any]:
    """The OpenAPI document of ``routes``; fails for a route not described here."""
    schemas: dict[str, Schema] = {
        "Detail": DETAIL,
        "FieldErrors": FIELD_ERRORS,
        "TokenPair": _obj(
            {"access": {"type": "string"}, "refresh": {"type": "string"}},
            ("access", "refresh"),
            additionalProperties=False,
        ),
        "PretrainedModel": MODEL,
        "Framework": FRAMEWORK,
        "Domain": DOMAIN,
        "Licence": LICENCE,
        "User": USER,
        "DownloadRequest": DOWNLOAD_BODY,
        "UsageStats": USAGE_STATS,
        "ModelUsage": MODEL_USAGE,
        "Health": HEALTH,
    }
    for prefix, fields in (
        ("PretrainedModel", r.PRETRAINED_MODEL.filters),
        ("Framework", r.FRAMEWORK.filters),
        ("Domain", r.DOMAIN.filters),
        ("Licence", r.LICENCE.filters),
        ("User", r.USER.filters),
    ):
        schemas.update(_filter_schemas(prefix, fields))
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "modelhub",
            "version": _version(),
            "summary": "A registry of pretrained deep-learning models (UFDL API).",
            "description": DESCRIPTION,
        },
        "tags": [
            {"name": name}
            for name in (
                "auth",
                "pretrained-models",
                "frameworks",
                "domains",
                "licences",
                "users",
                "uploads",
                "operations",
            )
        ],
        "security": [{"bearer": []}],
        "paths": _paths(routes),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The access token of `/v1/auth/obtain` or `/v1/auth/refresh`.",
                }
            },
            "schemas": schemas,
            "responses": {name: response for name, response in ERRORS.values()},
        },
    }
    # A copy: the module's schema constants are shared by every operation.
    return copy.deepcopy(document)


@cache
def document_bytes() -> bytes:
    """The served document, serialised once."""
    return json.dumps(build_document(), separators=(",", ":")).encode()
