"""Fixtures shared by every test folder: where the PostgreSQL server is."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_admin_url() -> str:
    return os.environ.get("MODELHUB_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _postgres_unavailable_reason() -> str | None:
    """None when the server answers, else why it does not."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        return f"psycopg is not installed: {exc}"
    url = _postgres_admin_url().replace("postgresql+psycopg://", "postgresql://")
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable at {url}: {exc}".strip()
    return None


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The URL of a maintenance database on a live PostgreSQL server.

    Without a server the PostgreSQL tests skip with the reason, except under
    CI=true, where they must run: there a missing server is a failure.
    """
    reason = _postgres_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return _postgres_admin_url()


@contextlib.contextmanager
def empty_database(server_url: str, prefix: str = "modelhub_test") -> Iterator[str]:
    """A new, empty database on the server of ``server_url``, dropped after."""
    import psycopg

    admin = server_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server_url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database of this test session, dropped at the end."""
    with empty_database(postgres_server_url) as url:
        yield url
