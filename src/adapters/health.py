"""Whether this instance's database and blob store answer, for ``/healthz``.

Each check runs in a worker thread of its own and is waited for at most
``timeout`` seconds, so a database that never answers (a dropped network, a
pool whose connections are all busy) makes the check fail quickly instead of
holding the request. A check still running from an earlier call is not
started again: it fails at once, so a hanging database ties up at most one
thread per check, whatever the rate of probes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from sqlalchemy import Engine, text

from domain.ports import BlobStore

log = logging.getLogger(__name__)

TIMEOUT = 3.0
OK = "ok"


class TimedCheck:
    """``check`` (None when fine, else a problem) run with a timeout."""

    def __init__(self, name: str, check: Callable[[], str | None], timeout: float) -> None:
        self.name = name
        self.timeout = timeout
        self._check = check
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"health-{name}")
        self._lock = threading.Lock()
        self._running: Future[str | None] | None = None

    def __call__(self) -> str | None:
        with self._lock:
            if self._running is not None and not self._running.done():
                return "did not answer the previous check yet"
            self._running = future = self._executor.submit(self._check)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            return f"did not answer within {self.timeout:g} seconds"
        except Exception as error:
            # The details (host names, paths) go to the log, not to the public.
            log.warning("health check of the %s failed", self.name, exc_info=True)
            return f"failed ({type(error).__name__})"

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class HealthCheck:
    """The database (``SELECT 1``) and the blob store (``BlobStore.check``)."""

    def __init__(self, engine: Engine, store: BlobStore, timeout: float = TIMEOUT) -> None:
        self.engine = engine
        self.checks = (
            TimedCheck("database", self._select_one, timeout),
            TimedCheck("store", store.check, timeout),
        )

    def report(self) -> tuple[bool, dict[str, str]]:
        """Whether everything answered, and each check's outcome: ``"ok"``
        or what failed."""
        outcomes = {check.name: check() or OK for check in self.checks}
        return all(outcome == OK for outcome in outcomes.values()), outcomes

    def close(self) -> None:
        for check in self.checks:
            check.close()

    def _select_one(self) -> str | None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1")).scalar_one()
        return None
