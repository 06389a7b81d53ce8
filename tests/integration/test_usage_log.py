"""The usage log on SQLite and PostgreSQL: atomic increments outside any
unit of work, safe when transfers end at once, and figures that outlive a
hard delete; and its background queue."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, insert, select, text

from adapters.memory import MemoryUsageLog
from adapters.queued_usage import QueuedUsageLog
from adapters.sqlalchemy import tables
from adapters.sqlalchemy.migrate import upgrade
from adapters.sqlalchemy.usage import SqlUsageLog
from domain.ports import ModelUsage, UsageLog
from tests.integration.sql_databases import empty_tables, postgres_schema, sqlite_engine


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = sqlite_engine(tmp_path_factory.mktemp("usage"))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def postgresql_db(postgres_url: str) -> Iterator[Engine]:
    with postgres_schema(postgres_url, "usage") as engine:
        upgrade(engine)
        yield engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated database with a framework, a domain and a licence, emptied after."""
    yield from _prepared(request.getfixturevalue(f"{request.param}_db"))


@pytest.fixture
def pg_engine(postgresql_db: Engine) -> Iterator[Engine]:
    yield from _prepared(postgresql_db)


def _prepared(engine: Engine) -> Iterator[Engine]:
    with engine.begin() as connection:
        for table, values in (
            (tables.frameworks, {"id": 1, "name": "pytorch", "version": "2"}),
            (tables.domains, {"id": 1, "name": "ic", "description": "Image Classification"}),
            (
                tables.licences,
                {
                    "id": 1,
                    "name": "MIT",
                    "url": "https://example.org/mit",
                    **{key: [] for key in ("domains", "permissions", "limitations", "conditions")},
                },
            ),
        ):
            connection.execute(insert(table).values(**values))
    yield engine
    empty_tables(engine)


def add_model(engine: Engine, pk: int) -> None:
    """A model row with this pk (as SQLite gives again the pk of the last
    model deleted)."""
    with engine.begin() as connection:
        connection.execute(
            insert(tables.pretrained_models).values(
                id=pk,
                framework_id=1,
                domain_id=1,
                licence_id=1,
                name=f"model {pk}",
                description="",
                url="https://example.org/model",
                metadata="",
                creation_time=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )


def hard_delete(engine: Engine, pk: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            delete(tables.pretrained_models).where(tables.pretrained_models.c.id == pk)
        )


def test_increments_add_up_per_model(engine: Engine) -> None:
    add_model(engine, 1)
    add_model(engine, 2)
    log = SqlUsageLog(engine)
    assert log.figures() == []

    log.served(2, 100, download=True)
    log.served(2, 40, download=False)
    log.fetched(2, 70)
    log.fetched(1, 5)
    log.served(1, 0, download=False)  # nothing: no row written

    assert log.figures() == [ModelUsage(1, 0, 0, 5), ModelUsage(2, 1, 140, 70)]
    assert log.figures_of(2) == ModelUsage(2, 1, 140, 70)
    assert log.figures_of(3) == ModelUsage(3)
    with engine.connect() as connection:
        assert (
            connection.scalar(
                select(tables.model_usage.c.id).where(
                    tables.model_usage.c.model_id == None  # noqa: E711
                )
            )
            is None
        )


def test_large_byte_counts(engine: Engine) -> None:
    add_model(engine, 1)
    log = SqlUsageLog(engine)
    for _ in range(3):
        log.served(1, 2**40, download=True)
    assert log.figures() == [ModelUsage(1, 3, 3 * 2**40, 0)]


def test_a_hard_deleted_model_stays_in_the_totals_and_its_pk_starts_afresh(
    engine: Engine,
) -> None:
    add_model(engine, 1)
    add_model(engine, 2)
    log = SqlUsageLog(engine)
    log.served(1, 10, download=True)
    log.fetched(1, 3)
    log.served(2, 20, download=True)

    hard_delete(engine, 1)
    assert log.figures() == [ModelUsage(2, 1, 20, 0), ModelUsage(None, 1, 10, 3)]

    # A new model under the same pk does not inherit the old one's figures;
    # figures of a model already gone count as a deleted model's.
    add_model(engine, 1)
    log.served(1, 1, download=False)
    log.served(99, 5, download=True)
    hard_delete(engine, 2)
    assert log.figures() == [ModelUsage(1, 0, 1, 0), ModelUsage(None, 3, 35, 3)]


def test_transfers_that_end_at_once_all_count(engine: Engine) -> None:
    """Threads record for one model, its row missing at first, and another."""
    add_model(engine, 1)
    add_model(engine, 2)
    log = SqlUsageLog(engine)
    threads, records = 8, 25
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def record(n: int) -> None:
        try:
            start.wait()
            for i in range(records):
                log.served(1, n + 1, download=i % 2 == 0)
                log.fetched(1 + n % 2, 1)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    workers = [threading.Thread(target=record, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert failures == []
    served = sum(range(1, threads + 1)) * records
    downloads = threads * ((records + 1) // 2)
    fetched = threads * records // 2
    assert log.figures() == [
        ModelUsage(1, downloads, served, fetched),
        ModelUsage(2, 0, 0, fetched),
    ]


@pytest.mark.postgresql
def test_recording_never_waits_for_a_change_of_the_model(pg_engine: Engine) -> None:
    """A model row locked by a change in progress (its usage row already
    there): the record goes through at once. (SQLite has no row locks: every
    write waits for the one writer.)"""
    engine = pg_engine
    add_model(engine, 1)
    log = SqlUsageLog(engine)
    log.served(1, 1, download=False)
    with engine.connect() as connection, connection.begin():
        model = tables.pretrained_models
        connection.execute(select(model.c.id).where(model.c.id == 1).with_for_update())
        connection.execute(text("UPDATE pretrained_models SET name = 'renamed' WHERE id = 1"))
        started = time.monotonic()
        log.served(1, 10, download=True)
        assert time.monotonic() - started < 5
    assert log.figures() == [ModelUsage(1, 1, 11, 0)]


def test_a_model_hard_deleted_while_its_download_is_counted(engine: Engine) -> None:
    """The record waits for the deleting transaction (PostgreSQL: for the
    model's key; SQLite: for the write lock), then finds the model gone: the
    figures count as a deleted model's, never lost, never an error."""
    add_model(engine, 1)
    log = SqlUsageLog(engine)
    recorded: list[BaseException | None] = []

    def record() -> None:
        try:
            log.served(1, 42, download=True)
            recorded.append(None)
        except BaseException as exc:  # pragma: no cover - reported below
            recorded.append(exc)

    with engine.connect() as connection, connection.begin():
        connection.execute(
            delete(tables.pretrained_models).where(tables.pretrained_models.c.id == 1)
        )
        worker = threading.Thread(target=record)
        worker.start()
        _wait_until_blocked(engine, worker)
    worker.join(30)
    assert recorded == [None]
    assert log.figures() == [ModelUsage(None, 1, 42, 0)]


def _wait_until_blocked(engine: Engine, worker: threading.Thread) -> None:
    """Until the worker waits for a lock (PostgreSQL), or a moment (SQLite)."""
    if engine.dialect.name != "postgresql":
        time.sleep(0.5)
        return
    deadline = time.monotonic() + 10
    with engine.connect() as watcher:
        while time.monotonic() < deadline and worker.is_alive():
            waiting = watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO model_usage%'"
                )
            )
            if waiting:
                return
            watcher.rollback()
            time.sleep(0.02)
    pytest.fail("the record never waited for the deleting transaction")


# -- the background queue -----------------------------------------------------


class SlowLog(MemoryUsageLog):
    """Records after a pause, or fails for a model pk of 13."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def served(self, pk: int, nbytes: int, download: bool) -> None:
        self.threads.add(threading.current_thread().name)
        time.sleep(0.01)
        if pk == 13:
            raise RuntimeError("database unreachable")
        super().served(pk, nbytes, download)


def test_the_queue_records_in_the_background_and_reads_what_was_queued(
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = SlowLog()
    log = QueuedUsageLog(target)
    started = time.monotonic()
    for _ in range(20):
        log.served(1, 10, download=True)
    log.served(13, 1, download=True)  # fails: logged, dropped
    log.fetched(1, 7)
    assert time.monotonic() - started < 0.1  # the caller never waits
    with caplog.at_level(logging.WARNING, logger="adapters.queued_usage"):
        assert log.figures() == [ModelUsage(1, 20, 200, 7)]
    log.served(1, 5, download=False)
    assert log.figures_of(1) == ModelUsage(1, 20, 205, 7)  # what was queued before
    assert "usage figures not recorded" in caplog.text
    assert target.threads == {"modelhub-usage"}
    log.close()
    log.served(1, 1, download=False)  # a new thread after close
    log.close()
    assert target.figures() == [ModelUsage(1, 20, 206, 7)]


def test_closing_the_queue_writes_what_is_left() -> None:
    target: UsageLog = SlowLog()
    log = QueuedUsageLog(target)
    for _ in range(10):
        log.served(2, 1, download=False)
    log.close()
    assert target.figures() == [ModelUsage(2, 0, 10, 0)]
    log.close()  # again: nothing to stop
    assert log.flush(0)
