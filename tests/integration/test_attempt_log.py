"""The logs of failed logins that the login throttle reads: one contract
for the in-process log and the SQL log (SQLite and PostgreSQL), and what
each does on its own (sweeping, pruning, several instances)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from adapters import attempts as attempts_module
from adapters.attempts import STALE_AFTER, InMemoryAttemptLog
from adapters.sqlalchemy import attempts as sql_attempts_module
from adapters.sqlalchemy.attempts import SqlAttemptLog
from adapters.sqlalchemy.migrate import upgrade
from adapters.sqlalchemy.session import make_engine
from adapters.sqlalchemy.tables import login_failures
from domain.ports import AttemptLog
from tests.integration.sql_databases import empty_tables, postgres_schema, sqlite_engine

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = sqlite_engine(tmp_path_factory.mktemp("attempts"))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def postgresql_db(postgres_url: str) -> Iterator[Engine]:
    with postgres_schema(postgres_url, "attempts") as engine:
        upgrade(engine)
        yield engine


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def log(request: pytest.FixtureRequest) -> Iterator[AttemptLog]:
    """Each log, empty."""
    if request.param == "memory":
        yield InMemoryAttemptLog()
        return
    engine = request.getfixturevalue(f"{request.param}_db")
    yield SqlAttemptLog(engine)
    empty_tables(engine)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def sql_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    engine = request.getfixturevalue(f"{request.param}_db")
    yield engine
    empty_tables(engine)


@pytest.fixture
def memory_log() -> InMemoryAttemptLog:
    return InMemoryAttemptLog()


def test_since_returns_a_keys_failures_oldest_first(log: AttemptLog) -> None:
    for seconds in (0, 5, 5, 9):
        log.record("user:alice", at(seconds))
    log.record("user:bob", at(3))
    assert log.since("user:alice", at(-60)) == [at(0), at(5), at(5), at(9)]
    assert log.since("user:bob", at(-60)) == [at(3)]
    assert log.since("address:192.0.2.1", at(-60)) == []


def test_since_excludes_its_start(log: AttemptLog) -> None:
    for seconds in (0, 10, 20):
        log.record("k", at(seconds))
    assert log.since("k", at(9)) == [at(10), at(20)]
    assert log.since("k", at(10)) == [at(20)]
    assert log.since("k", at(21)) == []
    log.record("k", at(30))
    assert log.since("k", at(21)) == [at(30)]


def test_in_memory_since_drops_what_is_older(memory_log: InMemoryAttemptLog) -> None:
    log = memory_log
    for seconds in (0, 10, 20):
        log.record("k", at(seconds))
    assert log.since("k", at(9)) == [at(10), at(20)]
    assert log.since("k", at(10)) == [at(20)]
    # Pruned for good: an earlier start no longer brings the others back.
    assert log.since("k", at(-60)) == [at(20)]
    assert log.since("k", at(21)) == []
    assert log.since("k", at(-60)) == []
    log.record("k", at(30))
    assert log.since("k", at(-60)) == [at(30)]


def test_since_returns_a_copy(log: AttemptLog) -> None:
    log.record("k", at(0))
    log.since("k", at(-1)).append(at(99))
    assert log.since("k", at(-1)) == [at(0)]


def test_clear_forgets_one_key(log: AttemptLog) -> None:
    log.record("user:alice", at(0))
    log.record("address:192.0.2.1", at(0))
    log.clear("user:alice")
    log.clear("user:never-seen")
    assert log.since("user:alice", at(-60)) == []
    assert log.since("address:192.0.2.1", at(-60)) == [at(0)]
    log.record("user:alice", at(1))
    assert log.since("user:alice", at(-60)) == [at(1)]


def test_concurrent_recording_loses_nothing(log: AttemptLog) -> None:
    # Fewer for the databases: each record is a transaction.
    threads_count, per_thread = (8, 300) if isinstance(log, InMemoryAttemptLog) else (8, 25)
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                log.record("address:shared", at(i))
                log.record(f"user:{n}", at(i))
                # Readers prune while others append.
                log.since("address:shared", at(-1))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    assert len(log.since("address:shared", at(-1))) == threads_count * per_thread
    for n in range(threads_count):
        assert log.since(f"user:{n}", at(-1)) == [at(i) for i in range(per_thread)]


def test_stale_keys_are_swept_once_the_table_is_large(
    memory_log: InMemoryAttemptLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = memory_log
    monkeypatch.setattr(attempts_module, "SWEEP_ABOVE", 3)
    monkeypatch.setattr(attempts_module, "SWEEP_EVERY", 1)
    later = T0 + STALE_AFTER + timedelta(minutes=5)
    log.record("old-1", T0)
    log.record("old-2", T0)
    log.record("recent", later - STALE_AFTER + timedelta(seconds=1))
    log.record("new", later)  # the fourth key: above the threshold
    assert log.since("old-1", T0 - timedelta(days=1)) == []
    assert log.since("old-2", T0 - timedelta(days=1)) == []
    assert log.since("recent", T0) == [later - STALE_AFTER + timedelta(seconds=1)]
    assert log.since("new", T0) == [later]


def test_a_key_with_one_recent_failure_is_not_stale(
    memory_log: InMemoryAttemptLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = memory_log
    monkeypatch.setattr(attempts_module, "SWEEP_ABOVE", 2)
    monkeypatch.setattr(attempts_module, "SWEEP_EVERY", 1)
    later = T0 + 2 * STALE_AFTER
    log.record("busy", T0)
    log.record("busy", later - timedelta(minutes=1))
    log.record("other", later)
    log.record("new", later)
    assert log.since("busy", T0 - timedelta(seconds=1)) == [T0, later - timedelta(minutes=1)]


def test_nothing_is_swept_below_the_threshold(
    memory_log: InMemoryAttemptLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = memory_log
    monkeypatch.setattr(attempts_module, "SWEEP_ABOVE", 10)
    monkeypatch.setattr(attempts_module, "SWEEP_EVERY", 1)
    log.record("old", T0)
    log.record("new", T0 + 2 * STALE_AFTER)
    assert log.since("old", T0 - timedelta(seconds=1)) == [T0]


def test_many_stale_keys_do_not_pile_up(
    memory_log: InMemoryAttemptLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = memory_log
    """Guessing with ever new usernames must not grow the table without end:
    once above the threshold, each hour's keys are dropped the next hour."""
    monkeypatch.setattr(attempts_module, "SWEEP_ABOVE", 50)
    monkeypatch.setattr(attempts_module, "SWEEP_EVERY", 1)
    for hour in range(10):
        for n in range(40):
            log.record(f"user:guess-{hour}-{n}", T0 + hour * 2 * STALE_AFTER)
    assert len(log._failures) <= 50 + 40
    newest = T0 + 9 * 2 * STALE_AFTER
    assert log.since("user:guess-9-0", newest - timedelta(seconds=1)) == [newest]
    assert log.since("user:guess-0-0", T0) == []


# -- The SQL log on its own --------------------------------------------------


def rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(login_failures)).scalar_one()


def test_sql_log_prunes_rows_older_than_it_keeps(
    sql_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_attempts_module, "PRUNE_EVERY", timedelta(minutes=10))
    log = SqlAttemptLog(sql_engine, keep=timedelta(minutes=1))  # an hour at least
    assert log.keep == STALE_AFTER
    for n in range(5):
        log.record(f"user:guess-{n}", T0)
    assert rows(sql_engine) == 5
    # Not yet due: within PRUNE_EVERY of the last prune (the first record's).
    log.record("k", T0 + timedelta(minutes=5))
    assert rows(sql_engine) == 6
    later = T0 + STALE_AFTER + timedelta(minutes=1)
    log.record("k", later)  # due: drops what is older than an hour
    assert rows(sql_engine) == 2
    assert log.since("k", T0) == [T0 + timedelta(minutes=5), later]


def test_sql_log_keeps_a_long_window(sql_engine: Engine) -> None:
    log = SqlAttemptLog(sql_engine, keep=timedelta(hours=3))
    log.record("k", T0)
    log.record("k", T0 + timedelta(hours=2))
    assert log.since("k", T0 - timedelta(seconds=1)) == [T0, T0 + timedelta(hours=2)]


@pytest.mark.parametrize(
    "odd", ["x" * 5000, "ali\x00ce", "ali\ud800ce"], ids=["long", "NUL", "lone surrogate"]
)
def test_sql_log_takes_any_key(sql_engine: Engine, odd: str) -> None:
    """Longer than the column, or text no database holds: a login's username
    is counted before it is validated."""
    log = SqlAttemptLog(sql_engine)
    key, other = f"user:{odd}@192.0.2.1", f"user:{odd}y@192.0.2.1"
    log.record(key, T0)
    assert log.since(key, at(-1)) == [T0]
    assert log.since(other, at(-1)) == []
    log.clear(key)
    assert log.since(key, at(-1)) == []


def test_sql_log_writes_in_transactions_of_its_own(sql_engine: Engine) -> None:
    """A record survives whatever becomes of the caller's transaction."""
    log = SqlAttemptLog(sql_engine)
    with sql_engine.connect() as connection:
        transaction = connection.begin()
        log.record("k", T0)
        transaction.rollback()
    assert log.since("k", at(-1)) == [T0]


def test_two_instances_recording_at_once_count_every_failure(sql_engine: Engine) -> None:
    """Two processes' logs, each on an engine of its own over one database."""
    second = make_engine(sql_engine.url.render_as_string(hide_password=False))
    try:
        logs = [SqlAttemptLog(sql_engine), SqlAttemptLog(second)]
        per_instance = 40
        start = threading.Barrier(len(logs))
        errors: list[BaseException] = []

        def work(log: SqlAttemptLog) -> None:
            try:
                start.wait()
                for i in range(per_instance):
                    log.record("address:shared", at(i))
                    log.since("address:shared", at(-1))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(log,)) for log in logs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        for log in logs:
            assert len(log.since("address:shared", at(-1))) == 2 * per_instance
    finally:
        second.dispose()
