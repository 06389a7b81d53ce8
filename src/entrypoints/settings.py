"""Typed settings read from an ini file's ``[app:main]`` section.

Each optional setting has its default in one place, its ``Settings`` field;
``INI_KEYS`` names the ini key that may set it. ``load_settings`` reads the
keys the ini file sets, and the fields it does not set keep their defaults.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from paste.deploy.converters import asbool, asint

from adapters.sqlalchemy.session import PoolSize
from domain.services.auth import ACCESS_LIFETIME, REFRESH_LIFETIME, LoginThrottle
from domain.services.maintenance import PROXY_BODY_MAX_AGE
from domain.services.uploads import UPLOAD_LIFETIME
from domain.services.upstream import LEASE

GIB = 1024**3


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    blob_root: Path
    jwt_key: str
    max_file_size: int = 20 * GIB
    access_lifetime: timedelta = ACCESS_LIFETIME
    refresh_lifetime: timedelta = REFRESH_LIFETIME
    # A browser session of the pages ends after this long without a request.
    session_lifetime: timedelta = timedelta(hours=8)
    auto_migrate: bool = False
    login_failures_per_username: int = LoginThrottle.per_username
    login_failures_per_address: int = LoginThrottle.per_address
    login_failure_window: timedelta = LoginThrottle.window
    fetch_timeout: int = 30
    fetch_retries: int = 3
    # An upstream transfer whose process stops renewing its claim for this
    # long is taken over by the next download.
    fetch_lease: timedelta = LEASE
    # Database connections: one per server thread, and a few more for the
    # work that runs beside requests (collections after commit, start-up).
    # ``load_settings`` sizes the pool from the server's threads when known.
    db_pool_size: int = PoolSize.size
    db_pool_timeout: int = PoolSize.timeout
    # Behind nginx: the URI prefix of its ``internal`` location aliasing the
    # blob folder; a stored file's download then answers with its headers and
    # ``X-Accel-Redirect`` for nginx to send the bytes. Empty: off.
    accel_redirect: str = ""
    # Behind nginx: the folder where it writes the bodies of uploads
    # (``client_body_temp_path``) and names each in ``X-Modelhub-Body-File``.
    # An upload's file is then taken from there, linked into the blob folder
    # when both share a filesystem. Empty: bodies come with the request.
    proxy_body_dir: str = ""
    # ``modelhub gc`` removes a file of proxy_body_dir that nothing has
    # written to for this long (and for its grace period): one left behind
    # by a proxy that crashed or was killed mid-upload.
    proxy_body_max_age: timedelta = PROXY_BODY_MAX_AGE
    # Where model files live: "filesystem" (under blob_root) or "s3" (a
    # bucket of AWS or any S3-compatible server; credentials from boto3's
    # usual chain). S3 stages incoming bytes in a local folder, by default
    # ``staging`` under blob_root; processes sharing transfers share it.
    blob_store: str = "filesystem"
    s3_bucket: str = ""
    s3_endpoint: str = ""
    s3_region: str = ""
    s3_prefix: str = ""
    s3_staging_dir: str = ""
    # Downloads of stored files answer a redirect to a presigned URL.
    s3_redirect: bool = False
    s3_redirect_lifetime: timedelta = timedelta(seconds=300)
    # A resumable upload that receives nothing for this long expires
    # (``modelhub gc`` then removes it and its bytes).
    upload_lifetime: timedelta = UPLOAD_LIFETIME


# The ini key of each optional field. A number must be positive, except in
# the fields of MAY_BE_ZERO; a ``timedelta`` is given in seconds.
INI_KEYS = {
    "max_file_size": "modelhub.max_file_size",
    "access_lifetime": "modelhub.access_token_lifetime",
    "refresh_lifetime": "modelhub.refresh_token_lifetime",
    "session_lifetime": "modelhub.session_lifetime",
    "auto_migrate": "modelhub.auto_migrate",
    "login_failures_per_username": "modelhub.login_failures_per_username",
    "login_failures_per_address": "modelhub.login_failures_per_address",
    "login_failure_window": "modelhub.login_failure_window",
    "fetch_timeout": "modelhub.fetch_timeout",
    "fetch_retries": "modelhub.fetch_retries",
    "fetch_lease": "modelhub.fetch_lease",
    "db_pool_size": "modelhub.db_pool_size",
    "db_pool_timeout": "modelhub.db_pool_timeout",
    "accel_redirect": "modelhub.accel_redirect",
    "proxy_body_dir": "modelhub.proxy_body_dir",
    "proxy_body_max_age": "modelhub.proxy_body_max_age",
    "blob_store": "modelhub.blob_store",
    "s3_bucket": "modelhub.s3_bucket",
    "s3_endpoint": "modelhub.s3_endpoint",
    "s3_region": "modelhub.s3_region",
    "s3_prefix": "modelhub.s3_prefix",
    "s3_staging_dir": "modelhub.s3_staging_dir",
    "s3_redirect": "modelhub.s3_redirect",
    "s3_redirect_lifetime": "modelhub.s3_redirect_lifetime",
    "upload_lifetime": "modelhub.upload_lifetime",
}
MAY_BE_ZERO = frozenset({"fetch_retries"})
# The text fields that take one of a few values.
CHOICES = {"blob_store": ("filesystem", "s3")}


def _resolve(raw: Mapping[str, str], key: str) -> str:
    """A setting's value; ``env:NAME`` reads the environment variable NAME."""
    value = raw.get(key)
    if value is None:
        raise SettingsError(f"setting {key!r} is required")
    value = str(value).strip()
    if value.startswith("env:"):
        name = value[4:]
        if not os.environ.get(name):
            raise SettingsError(f"setting {key!r} reads ${name}, which is not set")
        return os.environ[name]
    return value


def integer(key: str, text: str, minimum: int = 1) -> int:
    """``text`` as an integer of at least ``minimum``; ``key`` names it in errors."""
    try:
        value = asint(text)
    except ValueError:
        raise SettingsError(f"setting {key!r} must be an integer, not {text!r}") from None
    if value < minimum:
        least = "positive" if minimum == 1 else f"at least {minimum}"
        raise SettingsError(f"setting {key!r} must be {least}, not {value}")
    return value


def _boolean(key: str, text: str) -> bool:
    try:
        return asbool(text)
    except ValueError:
        raise SettingsError(f"setting {key!r} must be true or false, not {text!r}") from None


def _parse(name: str, text: str) -> Any:
    """``text`` as a value of the field ``name``, of the type of its default."""
    key, default = INI_KEYS[name], getattr(Settings, name)
    if name == "accel_redirect":
        return _uri_prefix(key, text)
    if name == "proxy_body_dir" and text and not os.path.isabs(text):
        raise SettingsError(f"setting {key!r} must be an absolute path, not {text!r}")
    if isinstance(default, bool):
        return _boolean(key, text)
    if isinstance(default, str):
        if name in CHOICES and text not in CHOICES[name]:
            allowed = " or ".join(CHOICES[name])
            raise SettingsError(f"setting {key!r} must be {allowed}, not {text!r}")
        return text
    seconds_or_number = integer(key, text, minimum=0 if name in MAY_BE_ZERO else 1)
    if isinstance(default, timedelta):
        return timedelta(seconds=seconds_or_number)
    return seconds_or_number


def _uri_prefix(key: str, text: str) -> str:
    """A URI path prefix such as ``/_blobs/`` (empty: none)."""
    if text and not (text.startswith("/") and text.endswith("/") and " " not in text):
        raise SettingsError(f"setting {key!r} must be a path like /_blobs/, not {text!r}")
    return text


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
    values: dict[str, Any] = {}
    if server_threads:
        values["db_pool_size"] = server_threads + 2
    for name, key in INI_KEYS.items():
        if key in raw:
            values[name] = _parse(name, _resolve(raw, key))
    settings = Settings(
        database_url=_resolve(raw, "sqlalchemy.url"),
        blob_root=Path(_resolve(raw, "modelhub.blob_root")),
        jwt_key=_jwt_key(raw),
        **values,
    )
    if settings.blob_store == "s3" and not settings.s3_bucket:
        raise SettingsError("setting 'modelhub.s3_bucket' is required with blob_store = s3")
    return settings
