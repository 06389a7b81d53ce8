"""Failed logins in the ``login_failures`` table, shared by every instance.

Several server processes on one database then throttle together: a guesser
spreading attempts over instances meets one limit, not one per instance.

- Every call runs in a short transaction of its own, on a connection of its
  own, never in the request's: a failed login's request transaction is
  aborted by its 401 and would take the record with it.
- A failure is one inserted row, so two instances recording at once never
  conflict (no counter to update): PostgreSQL takes both inserts side by
  side, SQLite's write lock orders them.
- Rows older than ``keep`` (the throttle's window, an hour at least) are
  deleted now and then, at most once every ``PRUNE_EVERY`` per process, by
  the instance that records; two instances pruning at once delete the same
  old rows, which is harmless.
- So a caller must not hold SQLite's write lock itself when it records a
  failure (a batch script logging in inside a transaction that has written):
  the record would wait for it. Requests log in before they write anything.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select

from adapters.attempts import STALE_AFTER
from adapters.sqlalchemy.tables import login_failures
from domain.ports import AttemptLog

PRUNE_EVERY = timedelta(minutes=1)
KEY_LENGTH = 255


class SqlAttemptLog(AttemptLog):
    """``AttemptLog`` on ``engine``, outside any unit of work."""

    def __init__(self, engine: Engine, keep: timedelta = STALE_AFTER) -> None:
        self.engine = engine
        self.keep = max(keep, STALE_AFTER)
        self._lock = threading.Lock()
        self._pruned_at: datetime | None = None

    def record(self, key: str, when: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(insert(login_failures).values(key=_stored(key), failed_at=when))
        if self._prune_due(when):
            with self.engine.begin() as connection:
                connection.execute(
                    delete(login_failures).where(login_failures.c.failed_at < when - self.keep)
                )

    def since(self, key: str, start: datetime) -> list[datetime]:
        statement = (
            select(login_failures.c.failed_at)
            .where(login_failures.c.key == _stored(key), login_failures.c.failed_at > start)
            .order_by(login_failures.c.failed_at, login_failures.c.id)
        )
        with self.engine.connect() as connection:
            return list(connection.execute(statement).scalars())

    def clear(self, key: str) -> None:
        # Every successful login clears its key: most have nothing to clear,
        # and a read takes no write lock (SQLite has one for the database).
        matches = login_failures.c.key == _stored(key)
        with self.engine.connect() as connection:
            if (
                connection.execute(select(login_failures.c.id).where(matches).limit(1)).first()
                is None
            ):
                return
        with self.engine.begin() as connection:
            connection.execute(delete(login_failures).where(matches))

    def _prune_due(self, when: datetime) -> bool:
        with self._lock:
            if self._pruned_at is not None and when - self._pruned_at < PRUNE_EVERY:
                return False
            self._pruned_at = when
            return True


def _stored(key: str) -> str:
    """``key`` as stored. The username in a key comes before its validation,
    so it may be any text: a key longer than the column, or one a database
    cannot hold (a NUL, half of a surrogate pair), is replaced by its hash."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        if len(key) <= KEY_LENGTH and "\x00" not in key:
            return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
