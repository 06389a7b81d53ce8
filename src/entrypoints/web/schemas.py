"""Colander schemas of the request bodies: types at the edge, rules in the domain.

Every field is optional here (``missing=drop``); what is required, how long
a name may be and which references exist are domain rules. Unknown and
read-only fields are dropped, as the UFDL server does.
"""

from __future__ import annotations

from typing import Any

import colander

NOT_NULL = "This field may not be null."


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


class Integer(_Strict):
    accepts = (int,)
    message = "A valid integer is required."


class Boolean(_Strict):
    accepts = (bool,)
    message = "Must be a valid boolean."


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


def _optional(schema_type: colander.SchemaType) -> colander.SchemaNode:
    return colander.SchemaNode(schema_type, missing=colander.drop)


def _required(schema_type: colander.SchemaType) -> colander.SchemaNode:
    return colander.SchemaNode(
        schema_type, missing=colander.required, missing_msg="This field is required."
    )


class PretrainedModelBody(colander.MappingSchema):
    framework = _optional(Integer())
    domain = _optional(Text())
    licence = _optional(Text())
    url = _optional(Text())
    description = _optional(Text())
    name = _optional(Text())
    metadata = _optional(Text())


class UserBody(colander.MappingSchema):
    username = _optional(Text())
    password = _optional(Text())
    first_name = _optional(Text())
    last_name = _optional(Text())
    email = _optional(Text())
    is_active = _optional(Boolean())
    is_staff = _optional(Boolean())
    is_superuser = _optional(Boolean())


class FrameworkBody(colander.MappingSchema):
    name = _optional(Text())
    version = _optional(Text())


class LicenceBody(colander.MappingSchema):
    name = _optional(Text())
    url = _optional(Text())


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
