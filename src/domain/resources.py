"""The fields of every resource, declared once.

The API's JSON shapes, the UFDL server's limits and its messages decide
what is written here; everything that reads or checks a field derives from
it (``domain.fields``).
"""

from __future__ import annotations

from typing import Any

from domain.fields import Field, Kind, Resource

# Most fields an admin writes can also be searched and sorted on.
EDITABLE: dict[str, Any] = {"writable": True, "filterable": True}

PK = Field("pk", Kind.INT, filterable=True)

USER = Resource(
    "user",
    (
        PK,
        Field(
            "username",
            Kind.STR,
            "Letters, digits and @/./+/-/_; not all digits, not `list` or `create`.",
            required=True,
            max_length=150,
            **EDITABLE,
        ),
        Field(
            "password",
            Kind.STR,
            "Changing it revokes the user's tokens.",
            required=True,
            strip=False,
            max_length=4096,
            writable=True,
            write_only=True,
        ),
        Field("first_name", Kind.STR, blank=True, max_length=150, **EDITABLE),
        Field("last_name", Kind.STR, blank=True, max_length=150, **EDITABLE),
        Field(
            "email", Kind.STR, 'An email address, or `""`.', blank=True, max_length=254, **EDITABLE
        ),
        Field("is_active", Kind.BOOL, **EDITABLE),
        Field("is_staff", Kind.BOOL, "An admin.", **EDITABLE),
        Field("is_superuser", Kind.BOOL, **EDITABLE),
        Field("date_joined", Kind.DATETIME, filterable=True),
        Field("last_login", Kind.DATETIME, nullable=True, filterable=True),
    ),
    key=("username",),
)

FRAMEWORK = Resource(
    "framework",
    (
        PK,
        Field("name", Kind.STR, required=True, max_length=200, exported=True, **EDITABLE),
        Field("version", Kind.STR, required=True, max_length=100, exported=True, **EDITABLE),
    ),
    key=("name", "version"),
)

DOMAIN = Resource(
    "domain",
    (
        PK,
        Field("name", Kind.STR, "The short code, e.g. `od`.", max_length=100, filterable=True),
        Field("description", Kind.STR, "e.g. `Object Detection`.", max_length=200, filterable=True),
    ),
    key=("name",),
)

LICENCE = Resource(
    "licence",
    (
        PK,
        Field("name", Kind.STR, required=True, max_length=100, **EDITABLE),
        Field("url", Kind.STR, required=True, max_length=200, url=True, **EDITABLE),
        *(
            Field(kind, Kind.STR_LIST)
            for kind in ("domains", "permissions", "limitations", "conditions")
        ),
    ),
    key=("name",),
)

PRETRAINED_MODEL = Resource(
    "pretrained model",
    (
        PK,
        Field(
            "framework",
            Kind.INT,
            "The pk of a framework.",
            required=True,
            exported=True,
            references=FRAMEWORK,
            related=("name", "version"),
            **EDITABLE,
        ),
        Field(
            "domain",
            Kind.STR,
            "The short name of a domain, e.g. `ic`.",
            required=True,
            writable=True,
            exported=True,
            references=DOMAIN,
            lookup="name",
            related=("name", "description"),
        ),
        Field(
            "licence",
            Kind.STR,
            "The name of a licence, or the SPDX identifier of a UFDL licence (`Apache-2.0`).",
            required=True,
            writable=True,
            exported=True,
            references=LICENCE,
            lookup="name",
            related=("name",),
        ),
        Field(
            "data",
            Kind.BOOL,
            "Whether a file is attached or can be fetched from `source`.",
            filterable=True,
        ),
        Field(
            "creator",
            Kind.INT,
            "The pk of its creator.",
            nullable=True,
            filterable=True,
            references=USER,
            related=("username",),
        ),
        Field("creation_time", Kind.DATETIME, filterable=True),
        Field("deletion_time", Kind.DATETIME, "Soft delete.", nullable=True, filterable=True),
        Field("url", Kind.STR, required=True, max_length=200, url=True, exported=True, **EDITABLE),
        Field("description", Kind.STR, required=True, blank=True, exported=True, **EDITABLE),
        Field("name", Kind.STR, required=True, max_length=200, exported=True, **EDITABLE),
        Field(
            "metadata",
            Kind.STR,
            'Free text; `""` when not given on create.',
            blank=True,
            exported=True,
            **EDITABLE,
        ),
        Field("data_size", Kind.INT, "Bytes.", nullable=True),
        Field("data_sha256", Kind.STR, nullable=True),
        Field(
            "source",
            Kind.STR,
            "An http(s) URL of the file upstream, fetched on first use.",
            nullable=True,
            max_length=2048,
            url=True,
            exported=True,
            **EDITABLE,
        ),
        Field(
            "source_sha256",
            Kind.STR,
            "The SHA-256 the upstream file must have (lowercase hex).",
            nullable=True,
            max_length=64,
            pattern="[0-9a-f]{64}",
            pattern_message="Enter a SHA-256: 64 lowercase hexadecimal digits.",
            exported=True,
            **EDITABLE,
        ),
        Field(
            "data_state",
            Kind.STR,
            "`none` (no file, no source), `remote` (a source, not fetched yet), "
            "`fetching` or `local`.",
            filterable=True,
        ),
    ),
    key=("name", "framework"),
)

RESOURCES = (USER, FRAMEWORK, DOMAIN, LICENCE, PRETRAINED_MODEL)
