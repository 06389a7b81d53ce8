"""Typed settings read from an ini file's ``[app:main]`` section."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

GIB = 1024**3


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    blob_root: Path
    jwt_key: str
    max_file_size: int = 20 * GIB
    access_lifetime: timedelta = timedelta(minutes=5)
    refresh_lifetime: timedelta = timedelta(hours=8)
    auto_migrate: bool = False
    login_failures_per_username: int = 10
    login_failures_per_address: int = 100
    login_failure_window: timedelta = timedelta(minutes=1)
    fetch_timeout: int = 30
    fetch_retries: int = 3
    # Database connections: one per server thread, and a few more for the
    # work that runs beside requests (collections after commit, start-up).
    db_pool_size: int = 10
    db_pool_timeout: int = 10


def _resolve(raw: Mapping[str, str], key: str, default: str | None = None) -> str:
    """A setting's value; ``env:NAME`` reads the environment variable NAME."""
    value = raw.get(key, default)
    if value is None:
        raise SettingsError(f"setting {key!r} is required")
    value = str(value).strip()
    if value.startswith("env:"):
        name = value[4:]
        if not os.environ.get(name):
            raise SettingsError(f"setting {key!r} reads ${name}, which is not set")
        return os.environ[name]
    return value


def _int(raw: Mapping[str, str], key: str, default: int) -> int:
    text = _resolve(raw, key, str(default))
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"setting {key!r} must be an integer, not {text!r}") from None
    if value <= 0:
        raise SettingsError(f"setting {key!r} must be positive")
    return value


def _jwt_key(raw: Mapping[str, str]) -> str:
    """The signing key: set directly, or kept in a file made on first use.

    The file form suits a development checkout: each one gets its own random
    key and nothing secret is committed.
    """
    if raw.get("modelhub.jwt_key"):
        return _resolve(raw, "modelhub.jwt_key")
    if not raw.get("modelhub.jwt_key_file"):
        raise SettingsError("set 'modelhub.jwt_key' or 'modelhub.jwt_key_file'")
    path = Path(_resolve(raw, "modelhub.jwt_key_file"))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def load_settings(raw: Mapping[str, str], server_threads: int | None = None) -> Settings:
    """Parse and check the ``modelhub.*`` and ``sqlalchemy.url`` settings.

    The connection pool holds ``modelhub.db_pool_size`` connections, by
    default two more than the server's ``server_threads`` when known.
    """
    pool_size = server_threads + 2 if server_threads else Settings.db_pool_size
    return Settings(
        database_url=_resolve(raw, "sqlalchemy.url"),
        blob_root=Path(_resolve(raw, "modelhub.blob_root")),
        jwt_key=_jwt_key(raw),
        max_file_size=_int(raw, "modelhub.max_file_size", 20 * GIB),
        access_lifetime=timedelta(seconds=_int(raw, "modelhub.access_token_lifetime", 300)),
        refresh_lifetime=timedelta(seconds=_int(raw, "modelhub.refresh_token_lifetime", 8 * 3600)),
        auto_migrate=_resolve(raw, "modelhub.auto_migrate", "false").lower()
        in ("true", "yes", "on", "1"),
        login_failures_per_username=_int(raw, "modelhub.login_failures_per_username", 10),
        login_failures_per_address=_int(raw, "modelhub.login_failures_per_address", 100),
        login_failure_window=timedelta(seconds=_int(raw, "modelhub.login_failure_window", 60)),
        fetch_timeout=_int(raw, "modelhub.fetch_timeout", 30),
        fetch_retries=_int(raw, "modelhub.fetch_retries", 3),
        db_pool_size=_int(raw, "modelhub.db_pool_size", pool_size),
        db_pool_timeout=_int(raw, "modelhub.db_pool_timeout", Settings.db_pool_timeout),
    )
