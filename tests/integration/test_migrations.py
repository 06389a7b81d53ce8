"""The Alembic migrations are the only source of the schema: they run on an
empty SQLite or PostgreSQL database, again harmlessly, and the schema they
make is exactly the one ``tables.metadata`` describes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, insert, inspect, select, text

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.migrate import current_revision, head_revision, upgrade
from adapters.sqlalchemy.session import make_engine
from tests.integration.sql_databases import postgres_schema, sqlite_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database (a PostgreSQL schema of its own)."""
    if request.param == "sqlite":
        engine = sqlite_engine(tmp_path / "nested" / "folder")
        yield engine
        engine.dispose()
        return
    with postgres_schema(request.getfixturevalue("postgres_url"), "migrations") as engine:
        yield engine


def schema_differences(engine: Engine, metadata: MetaData) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_upgrade_creates_the_schema_of_the_tables_module(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    assert inspect(empty_engine).get_table_names() == []

    upgrade(empty_engine)

    assert current_revision(empty_engine) == head_revision() == "0004"
    assert set(inspect(empty_engine).get_table_names()) == {
        *tables.metadata.tables,
        "alembic_version",
    }
    assert schema_differences(empty_engine, tables.metadata) == []


def test_upgrading_again_is_harmless(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(insert(tables.blobs).values(sha256="a" * 64, size=1, refcount=1))

    upgrade(empty_engine)

    assert current_revision(empty_engine) == head_revision()
    with empty_engine.connect() as connection:
        assert connection.execute(select(tables.blobs.c.refcount)).scalars().all() == [1]
    assert schema_differences(empty_engine, tables.metadata) == []


def test_the_comparison_sees_a_schema_that_differs(empty_engine: Engine) -> None:
    """Guards the test above: a metadata with one more column is not 'equal'."""
    upgrade(empty_engine)
    changed = MetaData(naming_convention=tables.NAMING_CONVENTION)
    for table in tables.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["blobs"].append_column(Column("extra", Integer))
    differences = schema_differences(empty_engine, changed)
    assert [d[0] for d in differences if isinstance(d, tuple)] == ["add_column"]


def test_upgrade_works_on_an_in_memory_database() -> None:
    engine = make_engine("sqlite://")
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert schema_differences(engine, tables.metadata) == []
    finally:
        engine.dispose()


def test_upgrade_from_0001_keeps_users(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0001")
    with empty_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (username, password_hash, first_name, last_name, email,"
                " is_active, is_staff, is_superuser) VALUES ('ada', 'h', '', '', '',"
                " true, true, false)"
            )
        )
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        rows = connection.execute(select(tables.users.c.username, tables.users.c.token_generation))
        assert [tuple(row) for row in rows] == [("ada", 0)]
