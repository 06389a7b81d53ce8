"""The unit of work: one session joined to a ``transaction`` manager."""

from __future__ import annotations

from collections.abc import Callable

import transaction
from sqlalchemy.orm import Session

from adapters.sqlalchemy.blob_index import SqlBlobIndex
from adapters.sqlalchemy.repositories import (
    SqlDomains,
    SqlFrameworks,
    SqlLicences,
    SqlModels,
    SqlUploads,
    SqlUsers,
)
from adapters.sqlalchemy.session import has_written
from domain.ports import UnitOfWork


class SqlUnitOfWork(UnitOfWork):
    """Repositories over ``session``; the transaction manager owns the
    transaction (``pyramid_tm`` in the web app, a ``with`` block in scripts).
    The session comes from ``session.tm_session`` on that manager, or, for a
    unit of work that only reads, from ``session.make_read_session_factory``
    (then in no transaction of the manager's)."""

    def __init__(
        self, session: Session, transaction_manager: transaction.TransactionManager
    ) -> None:
        self.session = session
        self.transaction_manager = transaction_manager
        self.users = SqlUsers(session)
        self.frameworks = SqlFrameworks(session)
        self.domains = SqlDomains(session)
        self.licences = SqlLicences(session)
        self.models = SqlModels(session)
        self.uploads = SqlUploads(session)
        self.blobs = SqlBlobIndex(session)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the current transaction commits (never if it
        aborts or the commit fails). The transaction package logs, and does
        not raise, an error in a callback: the commit has happened by then."""

        def hook(committed: bool) -> None:
            if committed:
                callback()

        self.transaction_manager.get().addAfterCommitHook(hook)

    def pause(self) -> None:
        """Abort a transaction that has changed nothing and registered no
        hook: the session closes and gives its connection back to the pool;
        its next query joins a new transaction of the same manager."""
        hooks = list(self.transaction_manager.get().getAfterCommitHooks())
        if has_written(self.session) or hooks:
            return
        self.transaction_manager.abort()
        self.transaction_manager.begin()
        self.session.close()  # a session in no transaction of the manager's too

    def commit(self) -> None:
        """Commit, then go on in a new transaction (as the in-memory fake does)."""
        self.transaction_manager.commit()
        self.transaction_manager.begin()

    def abort(self) -> None:
        """Abort, then go on in a new transaction."""
        self.transaction_manager.abort()
        self.transaction_manager.begin()
