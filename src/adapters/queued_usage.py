"""A ``UsageLog`` that records in the background, in order, on one thread.

A download is counted when its response closes, which waitress does on its
I/O thread: the thread that moves every connection's bytes must never wait
for the database (its write lock on SQLite, a free connection of the pool).
Here ``served`` and ``fetched`` only queue the record; one thread writes the
records to the wrapped log, each in its own short transaction. ``figures``
first waits for what was queued before it, so a reader sees every transfer
that had ended. A record that fails (the database unreachable) is logged and
dropped: statistics are never worth failing or slowing a transfer.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from domain.ports import ModelUsage, UsageLog

log = logging.getLogger(__name__)

_STOP = None
_Queue = queue.SimpleQueue[Callable[[], None] | None]


class QueuedUsageLog(UsageLog):
    """Queues records for ``target``, written by a daemon thread started
    with the first record; ``close`` writes what is left and stops it."""

    def __init__(self, target: UsageLog, wait: float = 10.0) -> None:
        self.target = target
        self.wait = wait
        self._changed = threading.Condition()
        self._queued = 0
        self._done = 0
        # The running thread and its queue (None until the first record).
        self._worker: tuple[threading.Thread, _Queue] | None = None

    def served(self, pk: int, nbytes: int, download: bool) -> None:
        self._put(lambda: self.target.served(pk, nbytes, download))

    def fetched(self, pk: int, nbytes: int) -> None:
        self._put(lambda: self.target.fetched(pk, nbytes))

    def figures(self) -> list[ModelUsage]:
        self.flush(self.wait)
        return self.target.figures()

    def figures_of(self, pk: int) -> ModelUsage:
        self.flush(self.wait)
        return self.target.figures_of(pk)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record queued so far is written (or dropped);
        False if ``timeout`` seconds passed first."""
        with self._changed:
            queued = self._queued
            return self._changed.wait_for(lambda: self._done >= queued, timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued, then stop the thread (a later record starts
        it again)."""
        with self._changed:
            worker, self._worker = self._worker, None
        if worker is not None:
            thread, records = worker
            records.put(_STOP)
            thread.join(timeout)

    def _put(self, record: Callable[[], None]) -> None:
        with self._changed:
            self._queued += 1
            if self._worker is None:
                records: _Queue = queue.SimpleQueue()
                thread = threading.Thread(
                    target=self._run, args=(records,), name="modelhub-usage", daemon=True
                )
                thread.start()
                self._worker = (thread, records)
            self._worker[1].put(record)

    def _run(self, records: _Queue) -> None:
        while (record := records.get()) is not _STOP:
            try:
                record()
            except Exception:
                log.warning("usage figures not recorded", exc_info=True)
            finally:
                with self._changed:
                    self._done += 1
                    self._changed.notify_all()
