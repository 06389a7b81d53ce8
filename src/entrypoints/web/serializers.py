"""Entities to the JSON shapes of the UFDL API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.model import DataDomain, Framework, Licence, PretrainedModel, User
from domain.records import ModelRecord
from domain.services.stats import Savings


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 with microseconds and a ``Z`` for UTC."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def framework_json(framework: Framework) -> dict[str, Any]:
    return {"pk": framework.pk, "name": framework.name, "version": framework.version}


def domain_json(domain: DataDomain) -> dict[str, Any]:
    return {"pk": domain.pk, "name": domain.name, "description": domain.description}


def licence_json(licence: Licence) -> dict[str, Any]:
    return {
        "pk": licence.pk,
        "name": licence.name,
        "url": licence.url,
        "domains": list(licence.domains),
        "permissions": list(licence.permissions),
        "limitations": list(licence.limitations),
        "conditions": list(licence.conditions),
    }


def model_json(model: PretrainedModel | ModelRecord) -> dict[str, Any]:
    record = model if isinstance(model, ModelRecord) else ModelRecord.of(model)
    return {
        "pk": record.pk,
        "framework": {
            "pk": record.framework_pk,
            "name": record.framework_name,
            "version": record.framework_version,
        },
        "domain": record.domain_description,
        "licence": record.licence_name,
        "data": record.data,
        "creator": record.creator_pk,
        "creation_time": timestamp(record.creation_time),
        "deletion_time": timestamp(record.deletion_time),
        "url": record.url,
        "description": record.description,
        "name": record.name,
        "metadata": record.metadata,
        "data_size": record.data_size,
        "data_sha256": record.data_sha256,
        "source": record.source,
        "source_sha256": record.source_sha256,
        "data_state": record.data_state,
    }


def user_json(user: User) -> dict[str, Any]:
    """A user's public fields: the password hash never leaves the server."""
    return {
        "pk": user.pk,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "date_joined": timestamp(user.date_joined),
        "last_login": timestamp(user.last_login),
    }


def savings_json(savings: Savings) -> dict[str, Any]:
    return {
        "downloads": savings.downloads,
        "bytes_served": savings.bytes_served,
        "bytes_fetched": savings.bytes_fetched,
        "ratio": savings.ratio,
        "models": [
            {
                "pk": m.pk,
                "name": m.name,
                "downloads": m.downloads,
                "bytes_served": m.bytes_served,
                "bytes_fetched": m.bytes_fetched,
            }
            for m in savings.models
        ],
    }
