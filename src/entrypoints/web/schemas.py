"""Colander schemas of the request bodies: shapes at the edge, rules in the domain.

A resource's create and update body keeps the fields its declaration marks
writable (``domain.resources``) and drops unknown and read-only ones, as the
UFDL server does; their values are checked by the domain's ``read_body``,
the one validator the batch scripts call too. The other bodies are checked
here, field by field.
"""

from __future__ import annotations

from typing import Any

import colander

from domain.fields import Resource
from domain.resources import FRAMEWORK, LICENCE, PRETRAINED_MODEL, USER
from domain.validation import NOT_NULL, REQUIRED


class _Strict(colander.SchemaType):
    """A JSON scalar of exactly one Python type (no coercion)."""

    accepts: tuple[type, ...] = ()
    message = "Invalid value."

    def serialize(self, node: colander.SchemaNode, appstruct: Any) -> Any:
        return appstruct

    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        if cstruct is colander.null:
            return cstruct
        if cstruct is None:
            raise colander.Invalid(node, NOT_NULL)
        if isinstance(cstruct, bool) and bool not in self.accepts:
            raise colander.Invalid(node, self.message)
        if not isinstance(cstruct, self.accepts):
            raise colander.Invalid(node, self.message)
        return cstruct


class Text(_Strict):
    accepts = (str,)
    message = "Not a valid string."


class Anything(_Strict):
    """Any JSON value, left for the domain to check."""

    accepts = (object,)

    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        return cstruct


class TextList(colander.SchemaType):
    def serialize(self, node: colander.SchemaNode, appstruct: Any) -> Any:
        return appstruct

    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        if cstruct is colander.null:
            return cstruct
        if not isinstance(cstruct, list) or not all(isinstance(v, str) for v in cstruct):
            raise colander.Invalid(node, "Expected a list of strings.")
        return cstruct


def _required(schema_type: colander.SchemaType) -> colander.SchemaNode:
    return colander.SchemaNode(schema_type, missing=colander.required, missing_msg=REQUIRED)


def body_schema(resource: Resource) -> colander.SchemaNode:
    """The writable fields of ``resource``, each optional and of any value."""
    schema = colander.SchemaNode(colander.Mapping(unknown="ignore"))
    for field in resource.writable:
        schema.add(colander.SchemaNode(Anything(), name=field.name, missing=colander.drop))
    return schema


MODEL_BODY = body_schema(PRETRAINED_MODEL)
USER_BODY = body_schema(USER)
FRAMEWORK_BODY = body_schema(FRAMEWORK)
LICENCE_BODY = body_schema(LICENCE)


class SubdescriptorsBody(colander.MappingSchema):
    type = _required(Text())
    method = _required(Text())
    names = _required(TextList())


class DownloadBody(colander.MappingSchema):
    filetype = colander.SchemaNode(Anything(), missing=None)
    params = colander.SchemaNode(Anything(), missing=None)


class ObtainBody(colander.MappingSchema):
    username = _required(Text())
    password = _required(Text())


class RefreshBody(colander.MappingSchema):
    refresh = _required(Text())


class VerifyBody(colander.MappingSchema):
    token = _required(Text())
