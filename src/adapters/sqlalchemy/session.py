"""Engines, sessions, and sessions joined to a ``transaction`` manager."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import transaction
import zope.sqlalchemy
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from domain.errors import Unavailable

_ZOPE_EVENTS = "modelhub.zope_events"
_WROTE = "modelhub.wrote"
_READ_ONLY = "modelhub.read_only"


@dataclass(frozen=True)
class PoolSize:
    """Connections kept (``size``), allowed beyond (``overflow``), and how
    long a request waits for one before it is answered 503 (``timeout``)."""

    size: int = 10
    overflow: int = 2
    timeout: int = 10


def make_engine(url: str, pool: PoolSize | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url``, tuned for SQLite (embedded) or PostgreSQL.

    Statements' parameters are kept out of error messages and logs, and an
    unreachable database or an exhausted pool raises ``Unavailable``.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    kwargs.setdefault("hide_parameters", True)
    pool = pool or PoolSize()
    in_memory = backend == "sqlite" and parsed.database in (None, "", ":memory:")
    if not in_memory:
        kwargs.setdefault("poolclass", _Pool)
        kwargs.setdefault("pool_size", pool.size)
        kwargs.setdefault("max_overflow", pool.overflow)
        kwargs.setdefault("pool_timeout", pool.timeout)
    if backend == "sqlite":
        database = parsed.database
        if database and not in_memory and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, **kwargs.pop("connect_args", {})}
        engine = create_engine(parsed, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
    else:
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", _ping_if_idle(engine.dialect))
    event.listen(engine, "handle_error", _unavailable)
    return engine


# A pooled connection left unused longer than this is tested before it is
# handed out. One in steady use is not: a server restart that drops it is
# noticed by the statement that fails (``_unavailable``), and the pool then
# replaces every connection older than that failure. SQLAlchemy's
# ``pool_pre_ping`` would test every checkout, one more round trip for each
# request, which costs a busy server more than any query it runs.
IDLE_BEFORE_PING = 2.0  # seconds
_CHECKED_IN = "modelhub.checked_in"


def _note_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(dialect: Dialect) -> Callable[[Any, ConnectionPoolEntry, Any], None]:
    """A checkout listener that tests a connection idle too long. A dead one
    is handled as ``pool_pre_ping`` handles it: ``InvalidatePoolError`` makes
    the pool discard it and every connection as old, and connect anew."""

    def checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN)
        if checked_in is None or time.monotonic() - checked_in < IDLE_BEFORE_PING:
            return  # new, or in steady use
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise sa_exc.InvalidatePoolError() from error
        if not alive:
            raise sa_exc.InvalidatePoolError()

    return checkout


class _Pool(QueuePool):
    """A queue pool whose checkout timeout is ``Unavailable``."""

    # Logs as SQLAlchemy's own pools do, under the logger the ini files set.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.QueuePool"

    def _do_get(self) -> ConnectionPoolEntry:
        try:
            return super()._do_get()
        except sa_exc.TimeoutError:
            raise Unavailable("Every database connection is busy; try again shortly.") from None


def _unavailable(context: ExceptionContext) -> BaseException | None:
    """``Unavailable`` for a database that cannot be reached or is too busy:
    a failed connection, a dropped one, a lock not granted in time, or a
    transaction the database rolled back to break a deadlock (SQLSTATE 40)."""
    if context.is_pre_ping:
        # The pool's check of a pooled connection: a dead one is replaced
        # by a new connection, which fails for itself if it must.
        return None
    error = context.original_exception
    sqlstate = getattr(error, "sqlstate", None) or ""
    locked = "database is locked" in str(error)
    if context.is_disconnect or context.connection is None or locked or sqlstate[:2] == "40":
        return Unavailable()
    return None


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        # Readers never block the single writer, nor it them.
        cursor.execute("PRAGMA journal_mode=WAL")
        # A writer waits for the lock (e.g. a blob row being collected)
        # instead of failing at once with "database is locked".
        cursor.execute("PRAGMA busy_timeout=30000")
        # LIKE is case-sensitive, as on PostgreSQL, so that ``contains``
        # means the same on both; ``ilike`` lowers both sides itself.
        cursor.execute("PRAGMA case_sensitive_like=ON")
    finally:
        cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``engine`` that keep loaded values after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that only read, each statement on its own outside any
    transaction: no ``BEGIN`` and no ``COMMIT``, two round trips fewer for a
    request that only reads. They refuse to write (``ReadOnlySession``)."""
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    factory = sessionmaker(bind=autocommit, expire_on_commit=False, info={_READ_ONLY: True})
    event.listen(factory, "before_flush", _refuse_flush)
    return factory


class ReadOnlySession(RuntimeError):
    """A write through a session of ``make_read_session_factory``."""


def _refuse_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySession("this unit of work only reads")


def tm_session(
    session_factory: sessionmaker[Session],
    transaction_manager: transaction.TransactionManager,
) -> Session:
    """A new session whose transaction follows ``transaction_manager``
    (committed or aborted by it, never by the session itself)."""
    session = session_factory()
    events = zope.sqlalchemy.register(session, transaction_manager=transaction_manager)
    session.info[_ZOPE_EVENTS] = events
    event.listen(session, "after_flush", _note_write)
    event.listen(session, "after_transaction_end", _forget_writes)
    return session


def _note_write(session: Session, _flush_context: Any) -> None:
    session.info[_WROTE] = True


def _forget_writes(session: Session, session_transaction: Any) -> None:
    if session_transaction.parent is None:
        session.info.pop(_WROTE, None)


def mark_changed(session: Session) -> None:
    """Tell the transaction manager that Core statements wrote through
    ``session``: zope.sqlalchemy only notices ORM flushes and ORM DML by
    itself, and would otherwise roll such a transaction back as read-only."""
    if session.info.get(_READ_ONLY):
        raise ReadOnlySession("this unit of work only reads")
    session.info[_WROTE] = True
    events = session.info.get(_ZOPE_EVENTS)
    if events is not None:
        events.mark_changed(session)


def has_written(session: Session) -> bool:
    """Whether the session's transaction has changed anything, or will."""
    return bool(session.info.get(_WROTE) or session.new or session.dirty or session.deleted)


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name
