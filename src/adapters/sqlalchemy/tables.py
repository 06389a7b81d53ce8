"""The schema as SQLAlchemy Core tables.

Alembic's migrations create it; this module describes it for queries and
mapping, and a test checks that both agree. Column names follow the domain
dataclasses (``domain.model``); primary keys are ``id``, mapped as ``pk``;
text columns take their length from the fields' declarations
(``domain.resources``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.mutable import MutableList

from adapters.sqlalchemy.types import UTCDateTime
from domain.fields import Resource
from domain.resources import DOMAIN, FRAMEWORK, LICENCE, PRETRAINED_MODEL, USER

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

SHA256_HEX = 64
UPLOAD_ID = 32  # hex characters


def _text(resource: Resource, name: str, **options: Any) -> Column[str]:
    """A text column as ``resource`` declares the field: length and nullability."""
    field = resource[name]
    kind = String(field.max_length) if field.max_length is not None else Text
    return Column(name, kind, nullable=field.nullable, **options)


def _string_list(name: str) -> Column[list[str]]:
    """A JSON list of strings; in-place changes are tracked too."""
    return Column(name, MutableList.as_mutable(JSON()), nullable=False)


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    _text(USER, "username", unique=True),
    Column("password_hash", String(255), nullable=False),
    _text(USER, "first_name"),
    _text(USER, "last_name"),
    _text(USER, "email"),
    Column("is_active", Boolean, nullable=False),
    Column("is_staff", Boolean, nullable=False),
    Column("is_superuser", Boolean, nullable=False),
    Column("date_joined", UTCDateTime, nullable=True),
    Column("last_login", UTCDateTime, nullable=True),
    Column("token_generation", Integer, nullable=False, server_default="0"),
)

frameworks = Table(
    "frameworks",
    metadata,
    Column("id", Integer, primary_key=True),
    _text(FRAMEWORK, "name"),
    _text(FRAMEWORK, "version"),
    UniqueConstraint("name", "version"),
)

domains = Table(
    "domains",
    metadata,
    Column("id", Integer, primary_key=True),
    _text(DOMAIN, "name", unique=True),
    _text(DOMAIN, "description"),
)

licences = Table(
    "licences",
    metadata,
    Column("id", Integer, primary_key=True),
    _text(LICENCE, "name", unique=True),
    _text(LICENCE, "url"),
    _string_list("domains"),
    _string_list("permissions"),
    _string_list("limitations"),
    _string_list("conditions"),
)

pretrained_models = Table(
    "pretrained_models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "framework_id",
        ForeignKey("frameworks.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    ),
    Column("domain_id", ForeignKey("domains.id", ondelete="RESTRICT"), nullable=False, index=True),
    Column(
        "licence_id", ForeignKey("licences.id", ondelete="RESTRICT"), nullable=False, index=True
    ),
    Column("creator_id", ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True),
    _text(PRETRAINED_MODEL, "name"),
    _text(PRETRAINED_MODEL, "description"),
    _text(PRETRAINED_MODEL, "url"),
    _text(PRETRAINED_MODEL, "metadata"),
    Column("creation_time", UTCDateTime, nullable=False),
    Column("deletion_time", UTCDateTime, nullable=True),
    Column("data_sha256", String(SHA256_HEX), nullable=True, index=True),
    Column("data_size", BigInteger, nullable=True),
    Column("data_time", UTCDateTime, nullable=True),
    _text(PRETRAINED_MODEL, "source"),
    _text(PRETRAINED_MODEL, "source_sha256"),
    Column("fetch_owner", String(64), nullable=True),
    Column("fetch_heartbeat", UTCDateTime, nullable=True),
    Column("fetch_size", BigInteger, nullable=True),
    Column("fetch_error", Text, nullable=True),
    Column("fetch_error_kind", String(16), nullable=True),
    Column("fetch_failed_at", UTCDateTime, nullable=True),
)

# Reference counts of stored files, by content hash. Deliberately no foreign
# key from pretrained_models: a row outlives its last reference until the
# after-commit collection removes it together with the file.
blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(SHA256_HEX), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("refcount", Integer, nullable=False),
)

# What was served of each model's file and fetched for it upstream, apart
# from the model's row so that counting never locks it (``usage.py``). A hard
# delete keeps the row, its ``model_id`` set to NULL: the totals still count
# it, and on SQLite a later model that gets the same pk starts from zero.
model_usage = Table(
    "model_usage",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "model_id",
        ForeignKey("pretrained_models.id", ondelete="SET NULL"),
        nullable=True,
        unique=True,
    ),
    Column("downloads", BigInteger, nullable=False, server_default="0"),
    Column("bytes_served", BigInteger, nullable=False, server_default="0"),
    Column("bytes_fetched", BigInteger, nullable=False, server_default="0"),
)

# Recent failed logins, one row per failure and key (``attempts.py``), shared
# by every instance on this database. Rows older than the throttle's window
# (an hour at least) are pruned now and then.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(255), nullable=False),
    Column("failed_at", UTCDateTime, nullable=False),
    Index("ix_login_failures_key_failed_at", "key", "failed_at"),
    Index("ix_login_failures_failed_at", "failed_at"),
)

# Resumable uploads in progress (``domain.model.Upload``), where every
# instance sees them. No foreign key to the model: a hard delete must not
# wait for, nor cascade into, an upload; its completion finds the model gone.
uploads = Table(
    "uploads",
    metadata,
    Column("id", String(UPLOAD_ID), primary_key=True),
    Column("owner_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("model_id", Integer, nullable=False),
    Column("filename", Text, nullable=True),
    Column("length", BigInteger, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("expires", UTCDateTime, nullable=False, index=True),
)
