"""Engines, sessions, and sessions joined to a ``transaction`` manager."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import transaction
import zope.sqlalchemy
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_ZOPE_EVENTS = "modelhub.zope_events"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``, tuned for SQLite (embedded) or PostgreSQL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, **kwargs.pop("connect_args", {})}
        engine = create_engine(parsed, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


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


def tm_session(
    session_factory: sessionmaker[Session],
    transaction_manager: transaction.TransactionManager,
) -> Session:
    """A new session whose transaction follows ``transaction_manager``
    (committed or aborted by it, never by the session itself)."""
    session = session_factory()
    events = zope.sqlalchemy.register(session, transaction_manager=transaction_manager)
    session.info[_ZOPE_EVENTS] = events
    return session


def mark_changed(session: Session) -> None:
    """Tell the transaction manager that Core statements wrote through
    ``session``: zope.sqlalchemy only notices ORM flushes and ORM DML by
    itself, and would otherwise roll such a transaction back as read-only."""
    events = session.info.get(_ZOPE_EVENTS)
    if events is not None:
        events.mark_changed(session)
