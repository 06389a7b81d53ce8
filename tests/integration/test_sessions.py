"""Sessions on SQLite and PostgreSQL: units of work that only read, and the
test of pooled connections left idle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import transaction
from sqlalchemy import Engine, create_engine, text

from adapters.sqlalchemy.migrate import upgrade
from adapters.sqlalchemy.orm import start_mappers
from adapters.sqlalchemy.session import ReadOnlySession, make_read_session_factory, mark_changed
from adapters.sqlalchemy.uow import SqlUnitOfWork
from domain.filters import FilterSpec
from domain.model import Framework
from tests.integration.sql_databases import migrated_engine, postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    start_mappers()
    with migrated_engine(request.param, request, tmp_path, "sessions") as engine:
        yield engine


def read_only_uow(engine: Engine) -> SqlUnitOfWork:
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    return SqlUnitOfWork(make_read_session_factory(engine)(), manager)


def test_a_read_only_unit_of_work_reads_what_is_committed(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO frameworks (name, version) VALUES ('jax', '0.4')"))
    uow = read_only_uow(engine)
    try:
        (framework,) = uow.frameworks.list(FilterSpec())
        assert (framework.name, framework.version) == ("jax", "0.4")
        assert uow.frameworks.get_by_name_version("jax", "0.4") is framework
    finally:
        uow.session.close()


def test_a_read_only_unit_of_work_refuses_every_write(engine: Engine) -> None:
    uow = read_only_uow(engine)
    try:
        with pytest.raises(ReadOnlySession):
            uow.frameworks.add(Framework("jax", "0.4"))
        uow.session.rollback()
        with pytest.raises(ReadOnlySession):
            mark_changed(uow.session)
    finally:
        uow.session.close()
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM frameworks")) == 0


@pytest.mark.postgresql
def test_a_read_only_unit_of_work_holds_no_transaction_open(postgres_url: str) -> None:
    """Between its statements the connection is idle, not idle in a
    transaction: no BEGIN was sent, and no COMMIT is owed."""
    start_mappers()
    with postgres_schema(postgres_url, "sessions") as engine:
        upgrade(engine)
        uow = read_only_uow(engine)
        observer = create_engine(postgres_url)
        try:
            assert uow.frameworks.list(FilterSpec()) == []
            pid = uow.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with observer.connect() as connection:
                state = connection.scalar(
                    text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                )
            assert state == "idle"
        finally:
            uow.session.close()
            observer.dispose()
