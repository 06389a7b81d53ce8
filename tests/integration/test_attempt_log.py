"""The in-process log of failed logins that the login throttle reads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from adapters import attempts as attempts_module
from adapters.attempts import STALE_AFTER, InMemoryAttemptLog

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def log() -> InMemoryAttemptLog:
    return InMemoryAttemptLog()


def test_since_returns_a_keys_failures_oldest_first(log: InMemoryAttemptLog) -> None:
    for seconds in (0, 5, 5, 9):
        log.record("user:alice", at(seconds))
    log.record("user:bob", at(3))
    assert log.since("user:alice", at(-60)) == [at(0), at(5), at(5), at(9)]
    assert log.since("user:bob", at(-60)) == [at(3)]
    assert log.since("address:192.0.2.1", at(-60)) == []


def test_since_excludes_its_start_and_drops_what_is_older(log: InMemoryAttemptLog) -> None:
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


def test_since_returns_a_copy(log: InMemoryAttemptLog) -> None:
    log.record("k", at(0))
    log.since("k", at(-1)).append(at(99))
    assert log.since("k", at(-1)) == [at(0)]


def test_clear_forgets_one_key(log: InMemoryAttemptLog) -> None:
    log.record("user:alice", at(0))
    log.record("address:192.0.2.1", at(0))
    log.clear("user:alice")
    log.clear("user:never-seen")
    assert log.since("user:alice", at(-60)) == []
    assert log.since("address:192.0.2.1", at(-60)) == [at(0)]
    log.record("user:alice", at(1))
    assert log.since("user:alice", at(-60)) == [at(1)]


def test_concurrent_recording_loses_nothing(log: InMemoryAttemptLog) -> None:
    threads_count, per_thread = 8, 300
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
    log: InMemoryAttemptLog, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    log: InMemoryAttemptLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attempts_module, "SWEEP_ABOVE", 2)
    monkeypatch.setattr(attempts_module, "SWEEP_EVERY", 1)
    later = T0 + 2 * STALE_AFTER
    log.record("busy", T0)
    log.record("busy", later - timedelta(minutes=1))
    log.record("other", later)
    log.record("new", later)
    assert log.since("busy", T0 - timedelta(seconds=1)) == [T0, later - timedelta(minutes=1)]


def test_nothing_is_swept_below_the_threshold(
    log: InMemoryAttemptLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attempts_module, "SWEEP_ABOVE", 10)
    monkeypatch.setattr(attempts_module, "SWEEP_EVERY", 1)
    log.record("old", T0)
    log.record("new", T0 + 2 * STALE_AFTER)
    assert log.since("old", T0 - timedelta(seconds=1)) == [T0]


def test_many_stale_keys_do_not_pile_up(
    log: InMemoryAttemptLog, monkeypatch: pytest.MonkeyPatch
) -> None:
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
