"""Failed-login bookkeeping kept in the server process's memory.

Enough for one waitress process, which serves every thread; counts start
afresh when the server restarts. Several processes behind a balancer would
each count on their own, so their combined limit is N times the setting:
the server uses the SQL log (``adapters.sqlalchemy.attempts``), which every
instance on the database shares; this one serves the unit tests.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

from domain.ports import AttemptLog

# Keys untouched for this long are dropped when the table grows large.
STALE_AFTER = timedelta(hours=1)
SWEEP_ABOVE = 10_000
SWEEP_EVERY = 1_000


class InMemoryAttemptLog(AttemptLog):
    def __init__(self) -> None:
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()
        self._records_since_sweep = 0

    def record(self, key: str, when: datetime) -> None:
        with self._lock:
            self._failures.setdefault(key, deque()).append(when)
            self._records_since_sweep += 1
            # Sweep now and then, not on every record once the table is big.
            if len(self._failures) > SWEEP_ABOVE and self._records_since_sweep >= SWEEP_EVERY:
                self._records_since_sweep = 0
                self._sweep(when - STALE_AFTER)

    def since(self, key: str, start: datetime) -> list[datetime]:
        with self._lock:
            failures = self._failures.get(key)
            if not failures:
                return []
            while failures and failures[0] <= start:
                failures.popleft()
            return list(failures)

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _sweep(self, cutoff: datetime) -> None:
        stale = [k for k, times in self._failures.items() if not times or times[-1] < cutoff]
        for key in stale:
            del self._failures[key]
