"""The tus 1.0.0 resumable upload protocol's HTTP side: its headers read and
written (https://tus.io/protocols/resumable-upload). The rules are the
domain's (``domain.services.uploads``); this module only translates.

Errors keep the API's JSON shapes: a header that is missing or malformed is
a 400 naming it (``{"Upload-Length": ["This header is required."]}``), and
so is a bad ``Upload-Metadata`` value (``{"model": [...]}``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import BinaryIO

from pyramid.request import Request
from pyramid.response import Response

from domain.errors import Invalid, NotAuthenticated, UnsupportedFileType
from domain.model import Upload, fits_int_column
from domain.services.uploads import CHECKSUM_ALGORITHMS, Appended, Checksum
from domain.validation import NOT_INT, REQUIRED
from entrypoints.web.errors import json_error

VERSION = "1.0.0"
EXTENSIONS = ("creation", "termination", "expiration", "checksum")
PART_TYPE = "application/offset+octet-stream"
# Routes whose every answer says ``Tus-Resumable``.
ROUTE_NAMES = frozenset({"uploads", "uploads.item"})
_COUNT = re.compile(r"\d{1,20}")
_METADATA_KEY = re.compile(r"[^\s,]+")

View = Callable[[object, Request], Response]


def resumable(view: View) -> View:
    """A view of the protocol: 412 with ``Tus-Version`` unless the request
    says ``Tus-Resumable: 1.0.0``."""

    @functools.wraps(view)
    def speaking_tus(context: object, request: Request) -> Response:
        if request.headers.get("Tus-Resumable") != VERSION:
            detail = f"This server speaks tus {VERSION}: send Tus-Resumable: {VERSION}."
            response = json_error(request, 412, {"detail": detail})
            response.headers["Tus-Version"] = VERSION
            return response
        return view(context, request)

    return speaking_tus


# -- requests -------------------------------------------------------------------


@dataclass(frozen=True)
class Creation:
    """What a creation request asks for."""

    model: int
    length: int
    filename: str | None


@dataclass(frozen=True)
class Part:
    """A PATCH: where its bytes go, the bytes, and what they should hash to."""

    offset: int
    body: BinaryIO
    length: int | None
    checksum: Checksum | None


def creation(request: Request) -> Creation:
    _authenticated(request)
    if "Upload-Defer-Length" in request.headers:
        raise Invalid(fields={"Upload-Defer-Length": ["Not supported: send Upload-Length."]})
    length = _count(request, "Upload-Length")
    metadata = _metadata(request.headers.get("Upload-Metadata", ""))
    return Creation(_model(metadata.get("model")), length, _filename(metadata.get("filename")))


def part(request: Request) -> Part:
    _authenticated(request)
    if request.content_type != PART_TYPE:
        raise UnsupportedFileType(f"A part is sent as Content-Type: {PART_TYPE}.")
    offset = _count(request, "Upload-Offset")
    checksum = _checksum(request.headers.get("Upload-Checksum"))
    return Part(offset, request.body_file, request.content_length, checksum)


def _authenticated(request: Request) -> None:
    """401 before anything about the headers, as the API answers bodies."""
    if request.identity is None:
        raise NotAuthenticated()


def _count(request: Request, name: str) -> int:
    text = request.headers.get(name)
    if text is None:
        raise Invalid(fields={name: ["This header is required."]})
    if not _COUNT.fullmatch(text.strip()):
        raise Invalid(fields={name: ["Must be a number of bytes (digits only)."]})
    return int(text)


def _metadata(header: str) -> dict[str, bytes]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (the
    value may be absent), keys unique."""
    pairs: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in header.split(","))):
        key, _, value = item.partition(" ")
        if not _METADATA_KEY.fullmatch(key) or key in pairs:
            raise Invalid(fields={"Upload-Metadata": [f"Bad or repeated key {key!r}."]})
        try:
            pairs[key] = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise Invalid(fields={key: ["Must be base64."]}) from None
    return pairs


def _model(value: bytes | None) -> int:
    if value is None:
        raise Invalid(fields={"model": [REQUIRED]})
    if not re.fullmatch(rb"[1-9]\d{0,19}", value):
        raise Invalid(fields={"model": [NOT_INT]})
    pk = int(value)
    if not fits_int_column(pk):
        raise Invalid(fields={"model": [f'Invalid pk "{pk}" - object does not exist.']})
    return pk


def _filename(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(fields={"filename": ["Must be UTF-8 text."]}) from None


def _checksum(header: str | None) -> Checksum | None:
    if header is None:
        return None
    algorithm, _, digest = header.strip().partition(" ")
    try:
        return Checksum(algorithm, base64.b64decode(digest.strip(), validate=True))
    except (binascii.Error, ValueError):
        raise Invalid(
            fields={"Upload-Checksum": ["Must be an algorithm and a base64 digest."]}
        ) from None


# -- responses ------------------------------------------------------------------


def capabilities(max_size: int | None) -> Response:
    response = _empty(204)
    response.headers["Tus-Version"] = VERSION
    response.headers["Tus-Extension"] = ",".join(EXTENSIONS)
    response.headers["Tus-Checksum-Algorithm"] = ",".join(CHECKSUM_ALGORITHMS)
    if max_size is not None:
        response.headers["Tus-Max-Size"] = str(max_size)
    return response


def created(request: Request, upload: Upload) -> Response:
    response = _empty(201)
    response.headers["Location"] = request.route_url(
        "uploads.item", upload_id=upload.id, trailing_slash=""
    )
    response.headers["Upload-Expires"] = http_date(upload.expires)
    return response


def status(upload: Upload) -> Response:
    response = _empty(200)
    response.headers["Upload-Offset"] = str(upload.offset)
    response.headers["Upload-Length"] = str(upload.length)
    response.headers["Upload-Expires"] = http_date(upload.expires)
    response.headers["Upload-Metadata"] = _encoded_metadata(upload)
    response.headers["Cache-Control"] = "no-store"
    return response


def appended(progress: Appended) -> Response:
    """204 with the new offset, and the new expiry unless the file is attached
    (the upload is then over)."""
    response = _empty(204)
    response.headers["Upload-Offset"] = str(progress.offset)
    if progress.expires is not None:
        response.headers["Upload-Expires"] = http_date(progress.expires)
    return response


def terminated() -> Response:
    return _empty(204)


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def _encoded_metadata(upload: Upload) -> str:
    pairs = {"model": str(upload.model_pk)}
    if upload.filename is not None:
        pairs["filename"] = upload.filename
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def _empty(status: int) -> Response:
    response = Response(status=status)
    response.content_type = None
    return response
