"""Databases for the SQL adapter tests.

PostgreSQL tests work in a schema of their own inside the session's test
database (``postgres_url``), so emptying their tables never touches the
tables other test modules share there.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, String, create_engine, text
from sqlalchemy.engine import make_url

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.migrate import upgrade
from adapters.sqlalchemy.session import make_engine

# Children first, so that emptying them one by one never breaks a foreign key.
TABLES = (
    "login_failures",
    "uploads",
    "model_usage",
    "pretrained_models",
    "blobs",
    "licences",
    "domains",
    "frameworks",
    "users",
)


def sqlite_engine(folder: Path, name: str = "modelhub.sqlite") -> Engine:
    """An engine on a new SQLite file (not migrated)."""
    return make_engine(f"sqlite:///{folder / name}")


@contextmanager
def postgres_schema(database_url: str, prefix: str) -> Iterator[Engine]:
    """An engine whose connections work in a new, empty schema (dropped after)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
        engine = make_engine(url.render_as_string(hide_password=False))
        try:
            yield engine
        finally:
            engine.dispose()
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@contextmanager
def migrated_engine(
    backend: str, request: pytest.FixtureRequest, folder: Path, prefix: str
) -> Iterator[Engine]:
    """An engine on a new migrated database of ``backend``: a SQLite file in
    ``folder``, or a PostgreSQL schema named from ``prefix`` (dropped after)."""
    if backend == "sqlite":
        engine = sqlite_engine(folder)
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    with postgres_schema(request.getfixturevalue("postgres_url"), prefix) as engine:
        upgrade(engine)
        yield engine


def empty_tables(engine: Engine) -> None:
    """Delete every row of the application's tables (fast, keeps the schema)."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))
        else:
            for table in TABLES:
                connection.execute(text(f"DELETE FROM {table}"))


def use_linguistic_collation(engine: Engine) -> bool:
    """Give every text column of a PostgreSQL schema an ICU collation, where
    ``'B' > 'a'``, as on a server whose default locale is ``en_US.UTF-8``.

    The test server's databases sort by code point already (``C.UTF-8``),
    which would hide a query relying on the default collation. Returns False
    when the server has no ICU.
    """
    with engine.begin() as connection:
        icu = connection.execute(
            text("SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'")
        ).first()
        if icu is None:
            return False
        for table in tables.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, String) and not column.primary_key:
                    sql_type = column.type.compile(dialect=engine.dialect)
                    connection.execute(
                        text(
                            f'ALTER TABLE {table.name} ALTER COLUMN "{column.name}" '
                            f'TYPE {sql_type} COLLATE "und-x-icu"'
                        )
                    )
        return True
