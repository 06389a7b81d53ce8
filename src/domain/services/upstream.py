"""Models whose file lives upstream: fetched once, streamed to every caller.

The first download of a ``remote`` model claims its transfer, in a
transaction of its own so that every process sharing the database sees the
claim at once, and a thread of this process copies the upstream file into a
staging file of the blob store named after the claim, hashing it. Every
download of the model, in this process or another one sharing the store,
reads that staging file as it grows. None sends its last byte before the
transfer has been verified and committed, and each checks that what it sent
hashes to what was committed: a pinned digest that does not match, or a
transfer abandoned half way, cuts every response short.

A claim is a lease: its owner renews ``fetch_heartbeat`` while it works, and
a claim whose heartbeat is older than ``LEASE`` (its process died) is taken
over by the next download. A transfer is abandoned when its claim is gone:
the model was hard-deleted, given a file, or a new source.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, BinaryIO

from domain.clock import Clock
from domain.errors import (
    Conflict,
    DomainError,
    Gone,
    Invalid,
    NotFound,
    SourceTimeout,
    SourceUnavailable,
)
from domain.model import BlobRef, PretrainedModel
from domain.ports import BlobStore, Fetcher, TransferEvents, UnitOfWork, UsageLog
from domain.transfer import CHUNK_SIZE

log = logging.getLogger(__name__)

Transactions = Callable[[], AbstractContextManager[UnitOfWork]]
"""A new unit of work, committed when its block ends, aborted if it raises."""

LEASE = timedelta(seconds=30)  # a claim not renewed for this long is taken over
RETRY_AFTER = timedelta(seconds=30)  # a failed transfer is not retried before
POLL = 0.1  # seconds a reader waits for more bytes before looking again


class Abandoned(SourceUnavailable):
    default_detail = "The transfer of this file was abandoned; try again."


@dataclass
class _Transfer:
    """A transfer run by this process, watched by its readers here."""

    pk: int
    owner: str
    changed: threading.Condition = field(default_factory=threading.Condition)
    abandoned: bool = False


@dataclass(frozen=True)
class Status:
    """Where a transfer stands, as a reader needs to know it."""

    running: bool
    size: int | None = None  # announced by upstream, when it did
    announced: bool = False
    stored: BlobRef | None = None  # what was committed, once done
    error: DomainError | None = None


class Transfers:
    """One upstream transfer per model at a time, for every process that
    shares the database and the blob store."""

    def __init__(
        self,
        transactions: Transactions,
        store: BlobStore,
        fetcher: Fetcher,
        clock: Clock,
        max_file_size: int | None = None,
        lease: timedelta = LEASE,
        usage: UsageLog | None = None,
        events: TransferEvents | None = None,
    ) -> None:
        self.transactions = transactions
        self.lease = lease
        self.usage = usage
        self.events = events or TransferEvents()
        self.store = store
        self.fetcher = fetcher
        self.clock = clock
        self.max_file_size = max_file_size
        self._running: dict[str, _Transfer] = {}
        self._lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None
        self._stopped = threading.Event()

    # -- what the model service calls ---------------------------------------

    def open(self, pk: int) -> Arriving | None:
        """The model's file as it arrives, its transfer started if none runs;
        None when the file is stored here meanwhile."""
        while True:
            owner = self.claim(pk)
            if owner is None:
                return None
            status = self._announced(pk, owner)
            if status.error is not None:
                raise status.error
            if not status.running and status.stored is None:
                continue  # lost: claim again
            try:
                file = self.store.open_staging(owner)
            except NotFound:
                continue  # stored or abandoned meanwhile: look again
            return Arriving(self, pk, owner, file, status.size)

    def claim(self, pk: int, *, retry: bool = False) -> str | None:
        """The owner of the model's running transfer, claimed and started now
        unless one runs; None when the file is stored. A recent failure is
        raised again, unless ``retry``."""
        with self.transactions() as uow:
            model = uow.models.get_for_update(pk)
            owner, new = claim_transfer(model, self.clock, self.lease, retry)
            source, pin = (model.source, model.source_sha256) if new else ("", None)  # type: ignore[union-attr]
        if new:
            self._start(pk, owner, source, pin)  # type: ignore[arg-type]
        return owner

    def status(self, pk: int, owner: str) -> Status:
        """Where the transfer ``owner`` of model ``pk`` stands."""
        with self.transactions() as uow:
            model = uow.models.get(pk)
            if model is None:
                return Status(False, error=NotFound("The model was deleted."))
            if model.blob is not None:
                # Stored by this transfer, or by an upload that abandoned it.
                if model.fetch_owner == owner:
                    return Status(False, stored=model.blob)
                return Status(False, error=Abandoned())
            if model.fetch_owner == owner:
                if model.fetch_heartbeat and model.fetch_heartbeat < self.clock.now() - self.lease:
                    return Status(False)  # its process died
                size = model.fetch_size
                return Status(True, None if size in (None, -1) else size, size is not None)
            return Status(False, error=_failure(model) or Abandoned())

    def running_here(self, owner: str) -> bool:
        """Whether this process runs the transfer ``owner``, still receiving."""
        return owner in self._running

    def wait(self, owner: str, timeout: float = POLL) -> None:
        """Wait a little for news of the transfer ``owner`` (more bytes, an end)."""
        transfer = self._running.get(owner)
        if transfer is None:
            self._stopped.wait(timeout)
            return
        with transfer.changed:
            transfer.changed.wait(timeout)

    def close(self) -> None:
        """Stop renewing claims (the process is ending)."""
        self._stopped.set()

    # -- the transfer ---------------------------------------------------------

    def _start(self, pk: int, owner: str, source: str, pin: str | None) -> None:
        self.events.started(pk)
        transfer = _Transfer(pk, owner)
        with self._lock:
            self._running[owner] = transfer
            if self._heartbeat is None:
                self._heartbeat = threading.Thread(
                    target=self._renew, name="upstream-heartbeat", daemon=True
                )
                self._heartbeat.start()
        thread = threading.Thread(
            target=self._run, args=(pk, transfer, source, pin), name=f"fetch-{pk}", daemon=True
        )
        thread.start()

    def _run(self, pk: int, transfer: _Transfer, source: str, pin: str | None) -> None:
        owner = transfer.owner
        watched: _Watched | None = None
        try:
            stream = self.fetcher.open(source)
            watched = _Watched(stream, transfer)
            try:
                self._announce(pk, owner, getattr(stream, "size", None))
                staged = self.store.stage(watched, self.max_file_size, owner)
            finally:
                stream.close()
            if pin is not None and staged.ref.sha256 != pin:
                self.store.discard(staged)
                raise SourceUnavailable(
                    f"The upstream file's SHA-256 is {staged.ref.sha256}, not the pinned "
                    f"{pin}: nothing was stored."
                )
            self._commit(pk, owner, staged)
            self.events.stored(pk)
        except DomainError as exc:
            self._fail(pk, owner, exc)
        except Exception as exc:
            log.exception("fetching the file of model %s failed", pk)
            self._fail(pk, owner, SourceUnavailable(f"The transfer failed: {type(exc).__name__}."))
        finally:
            with self._lock:
                self._running.pop(owner, None)
            with transfer.changed:
                transfer.changed.notify_all()
            if self.usage is not None and watched is not None and watched.received:
                self.usage.fetched(pk, watched.received)

    def _announce(self, pk: int, owner: str, size: int | None) -> None:
        with self.transactions() as uow:
            model = _owned(uow, pk, owner)
            model.fetch_size = -1 if size is None else size
            model.fetch_heartbeat = self.clock.now()

    def _commit(self, pk: int, owner: str, staged: Any) -> None:
        try:
            with self.transactions() as uow:
                model = _owned(uow, pk, owner)
                # The blob's row after the model's: the order every change takes.
                uow.blobs.acquire(staged.ref)
                ref = self.store.commit(staged)
                model.attach(ref, self.clock.now())
                # The owner stays, naming the transfer that stored the file:
                # its readers know the bytes they read are the ones stored.
                model.fetch_heartbeat = model.fetch_size = None
        except BaseException:
            self.store.discard(staged)
            raise

    def _fail(self, pk: int, owner: str, error: DomainError) -> None:
        """Record why the transfer failed, unless it was abandoned."""
        if isinstance(error, Abandoned):
            return
        self.events.failed(pk)
        kind = "timeout" if isinstance(error, SourceTimeout) else "error"
        if "pinned" in error.detail:
            kind = "mismatch"
        try:
            with self.transactions() as uow:
                model = uow.models.get_for_update(pk)
                if model is not None and model.fetch_owner == owner:
                    model.clear_fetch()
                    model.fetch_error, model.fetch_error_kind = error.detail, kind
                    model.fetch_failed_at = self.clock.now()
        except Exception:
            log.exception("recording the failed transfer of model %s failed", pk)

    def _renew(self) -> None:
        """Renew this process's claims; flag those that are gone."""
        while not self._stopped.wait(self.lease.total_seconds() / 6):
            with self._lock:
                running = list(self._running.values())
            for transfer in running:
                try:
                    self._renew_one(transfer)
                except Exception:
                    log.warning("renewing a transfer's claim failed", exc_info=True)

    def _renew_one(self, transfer: _Transfer) -> None:
        with self.transactions() as uow:
            model = uow.models.get_for_update(transfer.pk)
            if model is None or model.fetch_owner != transfer.owner:
                transfer.abandoned = True
                return
            model.fetch_heartbeat = self.clock.now()

    def _announced(self, pk: int, owner: str) -> Status:
        """Wait until the transfer has connected upstream (or ended)."""
        while True:
            status = self.status(pk, owner)
            if status.announced or not status.running:
                return status
            self.wait(owner)


def claim_transfer(
    model: PretrainedModel | None, clock: Clock, lease: timedelta, retry: bool
) -> tuple[str | None, bool]:
    """Decide, under the model's row lock, who runs its transfer: the owner
    of a live claim, or a new one, to start (``True``). None: stored."""
    if model is None:
        raise NotFound()
    if model.blob is not None:
        return None, False
    if model.is_deleted:
        raise Gone("This pretrained model has been deleted.")
    if model.source is None:
        raise NotFound("This pretrained model has no file.")
    now = clock.now()
    if model.fetch_owner is not None and (
        model.fetch_heartbeat is not None and model.fetch_heartbeat >= now - lease
    ):
        return model.fetch_owner, False
    failure = _failure(model)
    if failure is not None and not retry:
        recent = model.fetch_failed_at is not None and model.fetch_failed_at >= now - RETRY_AFTER
        if model.fetch_error_kind == "mismatch" or recent:
            raise failure
    model.clear_fetch()
    model.fetch_owner = secrets.token_hex(16)
    model.fetch_heartbeat = now
    return model.fetch_owner, True


def _failure(model: PretrainedModel) -> DomainError | None:
    if model.fetch_error is None:
        return None
    error = SourceTimeout if model.fetch_error_kind == "timeout" else SourceUnavailable
    return error(model.fetch_error)


def _owned(uow: UnitOfWork, pk: int, owner: str) -> PretrainedModel:
    """The model, locked, if the transfer ``owner`` still holds its claim."""
    model = uow.models.get_for_update(pk)
    if model is None or model.fetch_owner != owner:
        raise Abandoned()
    return model


class _Watched:
    """The upstream stream, read by the blob store: wakes the readers after
    each chunk, and stops the transfer once its claim is gone."""

    def __init__(self, stream: BinaryIO, transfer: _Transfer) -> None:
        self.stream = stream
        self.transfer = transfer
        self.received = 0  # bytes upstream delivered: the traffic it cost

    def read(self, size: int = -1) -> bytes:
        if self.transfer.abandoned:
            raise Abandoned()
        chunk = self.stream.read(size)
        self.received += len(chunk)
        with self.transfer.changed:
            self.transfer.changed.notify_all()
        return chunk


class Arriving:
    """A model's file while its transfer runs: ``size`` when upstream
    announced it, and readers of any part of it."""

    def __init__(
        self, transfers: Transfers, pk: int, owner: str, file: BinaryIO, size: int | None
    ) -> None:
        self.transfers = transfers
        self.pk = pk
        self.owner = owner
        self.file = file
        self.size = size

    def read(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Bytes ``start`` to ``stop`` (the end by default) as they arrive.

        The last byte of the file is only sent once this transfer has stored
        the file, and as many bytes were read as it stored; otherwise the
        iteration raises, which cuts the response short.
        """
        end = self.size if stop is None else stop
        final = stop is None or stop == self.size
        position, held = 0, b""
        done: BlobRef | None = None
        try:
            while True:
                wanted = end is None or position < end
                chunk = self.file.read(CHUNK_SIZE) if wanted else b""
                if chunk:
                    upper = len(chunk) if end is None else max(0, end - position)
                    piece = chunk[max(0, start - position) : upper]
                    position += len(chunk)
                    if piece and final:
                        # Everything but the last byte read, until the end.
                        if held + piece[:-1]:
                            yield held + piece[:-1]
                        held = piece[-1:]
                    elif piece:
                        yield piece
                    continue
                if done is not None:
                    if final and position != done.size:
                        raise Abandoned()
                    break
                if not wanted and not final:
                    break  # a range that ends before the file does
                if self.transfers.running_here(self.owner):
                    self.transfers.wait(self.owner)
                    continue
                status = self.transfers.status(self.pk, self.owner)
                if status.running:
                    self.transfers.wait(self.owner)
                    continue
                if status.error is not None:
                    raise status.error
                if status.stored is None:
                    raise Abandoned()
                done = status.stored  # read on: bytes written before the end
            if held:
                yield held
        finally:
            self.file.close()

    def close(self) -> None:
        self.file.close()


def fetchable(model: PretrainedModel) -> None:
    """Whether ``model`` may be fetched now: raises why not."""
    if model.is_deleted:
        raise Conflict("This pretrained model is deleted; reinstate it first.")
    if model.source is None:
        raise Invalid("This pretrained model has no source to fetch.")
