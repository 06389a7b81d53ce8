"""Reference counts of stored files in the ``blobs`` table.

Why this is safe when a hard delete and an upload of the same bytes race:

- ``acquire`` is one atomic upsert, so two uploads never lose a count, and
  it leaves the row write-locked until the uploading transaction ends;
  the upload makes its bytes visible in the store only after it.
- ``collect`` runs after the releasing transaction committed, in its own
  transaction: its DELETE only matches a row whose count is still zero,
  and it removes the file *before* committing, while it holds the row.

So either the collection deletes row and file first and the upload, which
was waiting for the row, starts a fresh count and puts the bytes back; or
the upload counted first and the collection, once it gets the row, sees a
positive count and deletes nothing. On PostgreSQL the waiting is a row lock
(READ COMMITTED re-checks the DELETE's condition on the new row version); on
SQLite it is the database write lock, waited for through ``busy_timeout``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from adapters.sqlalchemy.session import dialect_name, mark_changed
from adapters.sqlalchemy.tables import blobs
from domain.model import BlobRef
from domain.ports import BlobIndex

_INSERTS: dict[str, Callable[..., Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


class SqlBlobIndex(BlobIndex):
    """``BlobIndex`` over the session's current transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def acquire(self, ref: BlobRef) -> None:
        """Count one more reference, creating the row if needed (an upsert)."""
        statement = (
            self._insert()(blobs)
            .values(sha256=ref.sha256, size=ref.size, refcount=1)
            .on_conflict_do_update(
                index_elements=[blobs.c.sha256],
                set_={"refcount": blobs.c.refcount + 1},
            )
        )
        self.session.execute(statement)
        mark_changed(self.session)

    def release(self, ref: BlobRef) -> None:
        """Count one reference less; the row stays until ``collect``."""
        statement = (
            update(blobs).where(blobs.c.sha256 == ref.sha256).values(refcount=blobs.c.refcount - 1)
        )
        self.session.execute(statement)
        mark_changed(self.session)

    def all(self) -> Mapping[str, int]:
        rows = self.session.execute(select(blobs.c.sha256, blobs.c.refcount))
        return {sha256: refcount for sha256, refcount in rows}

    def track(self, ref: BlobRef) -> None:
        """Insert a row with a zero count unless one exists. On PostgreSQL an
        upload's uncommitted row makes this wait for it, then do nothing."""
        statement = (
            self._insert()(blobs)
            .values(sha256=ref.sha256, size=ref.size, refcount=0)
            .on_conflict_do_nothing(index_elements=[blobs.c.sha256])
        )
        self.session.execute(statement)
        mark_changed(self.session)

    def lock(self, ref: BlobRef) -> int:
        """Create the row if missing, then lock it (``FOR UPDATE``; on SQLite
        the insert already took the database's write lock)."""
        self.track(ref)
        statement = select(blobs.c.refcount).where(blobs.c.sha256 == ref.sha256).with_for_update()
        return self.session.scalar(statement) or 0

    def set_count(self, ref: BlobRef, count: int) -> None:
        statement = update(blobs).where(blobs.c.sha256 == ref.sha256).values(refcount=count)
        self.session.execute(statement)
        mark_changed(self.session)

    def _insert(self) -> Callable[..., Any]:
        dialect = dialect_name(self.session)
        if dialect not in _INSERTS:
            raise NotImplementedError(f"no atomic upsert for the {dialect!r} dialect")
        return _INSERTS[dialect]

    def collect(self, ref: BlobRef, delete_file: Callable[[BlobRef], None]) -> bool:
        """Forget an unreferenced blob and delete its file, in a transaction
        of its own on a new connection (the session's one has committed)."""
        engine = self.session.get_bind().engine
        with engine.connect() as connection, connection.begin():
            result = connection.execute(
                delete(blobs).where(blobs.c.sha256 == ref.sha256, blobs.c.refcount <= 0)
            )
            if result.rowcount == 0:
                return False
            # Still inside the transaction: the row stays locked, so an upload
            # of these bytes waits until the file is gone, then re-creates both.
            delete_file(ref)
        return True
