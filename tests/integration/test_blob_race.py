"""A hard delete racing an upload of the same bytes never loses the file.

Two real threads, each with its own session and transaction on committed
data, run the two paths of ``PretrainedModels`` that touch one blob:

- hard delete: release the reference, commit, then (after-commit hook)
  collect the blob, deleting the file if nothing references it any more;
- upload: acquire a reference, put the file in the store (a no-op when it is
  there), commit.

Whatever the interleaving, a blob that is still referenced afterwards must
still have its file. Half of the iterations let the hard delete go first,
half the upload, with jitter, and deleting a file takes a little while, so
the upload often arrives while the collection holds the row.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import transaction
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from transaction.interfaces import NoTransaction

from adapters.sqlalchemy.session import make_session_factory, tm_session
from adapters.sqlalchemy.uow import SqlUnitOfWork
from domain.model import BlobRef
from tests.integration.sql_databases import migrated_engine

ITERATIONS = 40
DELETE_TAKES = 0.003


class Files:
    """The blob store as the race sees it: which files are on disk."""

    def __init__(self) -> None:
        self.present: set[str] = set()

    def put(self, ref: BlobRef) -> None:
        self.present.add(ref.sha256)

    def delete(self, ref: BlobRef) -> None:
        time.sleep(DELETE_TAKES)
        self.present.discard(ref.sha256)


@contextlib.contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[SqlUnitOfWork]:
    """A unit of work in a transaction of its own; aborted if not committed."""
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    session = tm_session(factory, manager)
    try:
        yield SqlUnitOfWork(session, manager)
    finally:
        with contextlib.suppress(NoTransaction):  # committed already
            manager.abort()
        session.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, request, tmp_path, "race") as engine:
        yield engine


def _run_together(*targets: Callable[[], None]) -> None:
    """Run the targets in threads released at the same moment; re-raise."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            barrier.wait()
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    if errors:
        raise errors[0]


@dataclass
class Race:
    """One blob, committed with one reference and its file present."""

    factory: sessionmaker[Session]
    files: Files
    ref: BlobRef
    collected: list[bool] = field(default_factory=list)
    hook_errors: list[BaseException] = field(default_factory=list)

    def hard_delete(self, delay: float) -> None:
        """``PretrainedModels.hard_delete``: release, commit, then collect."""
        with unit_of_work(self.factory) as uow:
            time.sleep(delay)
            uow.blobs.release(self.ref)

            def collect() -> None:
                # The transaction package logs and swallows hook errors.
                try:
                    self.collected.append(uow.blobs.collect(self.ref, self.files.delete))
                except BaseException as exc:
                    self.hook_errors.append(exc)

            uow.after_commit(collect)
            uow.transaction_manager.commit()
        if self.hook_errors:
            raise self.hook_errors[0]

    def upload(self, delay: float) -> None:
        """``PretrainedModels.set_file``: acquire, put the bytes, commit."""
        with unit_of_work(self.factory) as uow:
            time.sleep(delay)
            uow.blobs.acquire(self.ref)
            self.files.put(self.ref)
            uow.transaction_manager.commit()


def test_hard_delete_racing_an_upload_of_the_same_bytes(engine: Engine) -> None:
    factory = make_session_factory(engine)
    files = Files()
    rng = random.Random(20261127)
    collected: list[bool] = []

    for i in range(ITERATIONS):
        ref = BlobRef(hashlib.sha256(f"race-{i}".encode()).hexdigest(), 10)
        with unit_of_work(factory) as uow:
            uow.blobs.acquire(ref)
            uow.transaction_manager.commit()
        files.put(ref)
        race = Race(factory, files, ref)
        if i % 2:  # the upload tends to go first
            delete_delay, upload_delay = rng.uniform(0.002, 0.006), 0.0
        else:
            delete_delay, upload_delay = 0.0, rng.uniform(0, 0.006)

        _run_together(
            functools.partial(race.hard_delete, delete_delay),
            functools.partial(race.upload, upload_delay),
        )

        with unit_of_work(factory) as uow:
            references = uow.blobs.all().get(ref.sha256, 0)
        assert references == 1, f"iteration {i}"
        assert ref.sha256 in files.present, f"iteration {i}: referenced, but the file is gone"
        collected += race.collected

    # Both outcomes happened: the interleavings were really exercised.
    assert len(collected) == ITERATIONS
    assert True in collected and False in collected
