"""Resumable uploads of model files: the rules of the tus protocol, without HTTP.

An admin creates an upload for a model, declaring the file's length; the
bytes then arrive in parts, each appended where the upload stands, and on
the last byte the file is attached to the model by the one attach step of
set file (``PretrainedModels.attach_staged``): the same rules, checked again.

Where the truth lives, so that a process dying at any line leaves it whole:

- The upload's record holds its offset: the bytes recorded as received. A
  part is appended to the upload's staging file in the blob store and made
  durable (fsync); only then does the offset move, in a transaction of its
  own. Bytes past the recorded offset are from a part that died before it
  was recorded (its client never heard 204): the next part truncates them
  before it writes. So the offset a client is told always names durable
  bytes, a part counts whole or not at all, and a part whose checksum fails
  leaves nothing.
- One writer at a time: the store's lock on the staging file, which holds
  across processes and dies with its holder. A second part arriving
  meanwhile (a retry) hears ``Busy`` (409) at once; one arriving later reads
  the offset again under the lock and hears 409 if it moved. The offset is
  committed before the lock is released, so the next writer reads it.
- The last part finishes the staging file (hashed by reading it, fsynced)
  and, in one transaction, locks the upload's row, attaches the file (renamed
  into place, never copied) and deletes the upload. Termination and expiry
  delete the row under the same lock, so exactly one wins: a terminated or
  expired upload never attaches a file, and no file is attached twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from domain.clock import Clock
from domain.errors import ChecksumMismatch, Conflict, Invalid, NotFound, TooLarge
from domain.model import BlobRef, Upload
from domain.permissions import Actor, require_admin, require_authenticated
from domain.ports import BlobStore, StagedBlob, UnitOfWork
from domain.services.pretrained_models import EMPTY_FILE, PretrainedModels
from domain.services.upstream import Transactions
from domain.validation import text_problem

UPLOAD_LIFETIME = timedelta(hours=24)  # since the last part received
CHECKSUM_ALGORITHMS = ("sha256",)
_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Checksum:
    """A part's declared digest."""

    algorithm: str
    digest: bytes


@dataclass(frozen=True)
class Appended:
    """Where an upload stands after a part: its offset and expiry, or, once
    its last byte came, the file attached to its model (and no expiry)."""

    offset: int
    expires: datetime | None
    attached: BlobRef | None = None


class Uploads:
    def __init__(
        self,
        uow: UnitOfWork,
        store: BlobStore,
        clock: Clock,
        transactions: Transactions,
        models_in: Callable[[UnitOfWork], PretrainedModels],
        lifetime: timedelta = UPLOAD_LIFETIME,
    ) -> None:
        """``transactions`` gives units of work of their own (the changes made
        while a staging file is held are committed before it is released);
        ``models_in`` the model service on a given unit of work."""
        self.uow = uow
        self.store = store
        self.clock = clock
        self.transactions = transactions
        self.models_in = models_in
        self.lifetime = lifetime

    def create(
        self, actor: Actor, model_pk: int, length: int, filename: str | None = None
    ) -> Upload:
        """A new upload of ``length`` bytes for model ``pk``, by an admin:
        refused at once as set file would refuse the file (the model missing
        or soft-deleted, over the size limit, empty)."""
        user = require_admin(actor)
        if user.pk is None:
            raise NotFound("Resumable uploads belong to user accounts.")
        if filename is not None and (problem := text_problem(filename)):
            raise Invalid.field("filename", problem)
        try:
            self.models_in(self.uow).admit_file(actor, model_pk, length)
        except NotFound:
            message = f'Invalid pk "{model_pk}" - object does not exist.'
            raise Invalid.field("model", message) from None
        if length <= 0:
            raise Invalid(EMPTY_FILE)
        now = self.clock.now()
        upload = Upload(
            secrets.token_hex(16),
            user.pk,
            model_pk,
            length,
            now,
            now + self.lifetime,
            filename=filename,
        )
        self.store.begin_staging(upload.id)
        self.uow.uploads.add(upload)
        return upload

    def status(self, actor: Actor, upload_id: str) -> Upload:
        """The caller's own upload, unexpired; ``NotFound`` for anyone else's."""
        return self._owned(self.uow, actor, upload_id)

    def terminate(self, actor: Actor, upload_id: str) -> None:
        """Forget the upload; its bytes go once that has committed."""
        upload = self._owned(self.uow, actor, upload_id, lock=True)
        self.uow.uploads.delete(upload)
        self.uow.after_commit(lambda: self.store.remove_staging(upload.id))

    def append(
        self,
        actor: Actor,
        upload_id: str,
        offset: int,
        stream: BinaryIO,
        declared: int | None = None,
        checksum: Checksum | None = None,
    ) -> Appended:
        """Append the part read from ``stream`` at ``offset``, which must be
        where the upload stands; the last byte attaches the file.

        ``declared`` is the part's length as the request says (refused at
        once past the upload's end); ``checksum`` its digest, which the part
        must match (``ChecksumMismatch``), else nothing of it is kept.
        """
        require_admin(actor)
        upload = self._owned(self.uow, actor, upload_id)
        _check_offset(upload, offset)
        remaining = upload.length - offset
        if declared is not None and declared > remaining:
            raise TooLarge(_past_end(remaining))
        part = _Part(stream, remaining, _digest(checksum))
        self.uow.pause()  # receiving holds no database connection
        with self.store.resume_staging(upload_id) as staging:
            with self.transactions() as uow:  # read again, under the writer's lock
                _check_offset(self._owned(uow, actor, upload_id), offset)
            if staging.size() < offset:  # lost behind the store's back: unusable
                self._drop(upload_id)
                self.store.remove_staging(upload_id)
                raise NotFound("The bytes received so far are missing; start a new upload.")
            staging.truncate(offset)  # what a part that died left past the offset
            try:
                staging.append(part)  # type: ignore[arg-type]
                if checksum is not None and part.hashed() != checksum.digest:
                    raise ChecksumMismatch()
                staging.sync()
            except BaseException:
                with contextlib.suppress(OSError):  # else the next part truncates
                    staging.truncate(offset)
                raise
            end = offset + part.received
            if end < upload.length:
                return self._advance(actor, upload_id, offset, end)
            return self._complete(actor, upload_id, offset, staging.finish())

    # -- helpers ------------------------------------------------------------------

    def _owned(
        self, uow: UnitOfWork, actor: Actor, upload_id: str, *, lock: bool = False
    ) -> Upload:
        """The caller's own unexpired upload (its row locked with ``lock``)."""
        user = require_authenticated(actor)
        upload = None
        if _ID.fullmatch(upload_id):
            find = uow.uploads.get_for_update if lock else uow.uploads.get
            upload = find(upload_id)
        if upload is None or upload.owner_pk != user.pk or upload.expired(self.clock.now()):
            raise NotFound()
        return upload

    def _advance(self, actor: Actor, upload_id: str, offset: int, end: int) -> Appended:
        """Record the offset, committed before the writer's lock goes."""
        with self.transactions() as uow:
            upload = self._owned(uow, actor, upload_id, lock=True)
            _check_offset(upload, offset)
            upload.offset = end
            upload.expires = self.clock.now() + self.lifetime
            return Appended(end, upload.expires)

    def _complete(self, actor: Actor, upload_id: str, offset: int, staged: StagedBlob) -> Appended:
        """Attach the finished file and forget the upload, in one transaction;
        refused, keep nothing of either."""
        try:
            with self.transactions() as uow:
                upload = self._owned(uow, actor, upload_id, lock=True)
                _check_offset(upload, offset)
                model = self.models_in(uow).attach_staged(actor, upload.model_pk, staged)
                uow.uploads.delete(upload)
                return Appended(upload.length, None, model.blob)
        except BaseException:
            self.store.discard(staged)
            self._drop(upload_id)
            raise

    def _drop(self, upload_id: str) -> None:
        with self.transactions() as uow:
            upload = uow.uploads.get_for_update(upload_id)
            if upload is not None:
                uow.uploads.delete(upload)


class _Part:
    """A part's body, counted against what the upload still expects and
    hashed for its checksum as it is read."""

    def __init__(self, stream: BinaryIO, remaining: int, digest: Any) -> None:
        self.stream = stream
        self.remaining = remaining
        self.digest = digest
        self.received = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.received += len(chunk)
        if self.received > self.remaining:
            raise TooLarge(_past_end(self.remaining))
        if self.digest is not None:
            self.digest.update(chunk)
        return chunk

    def hashed(self) -> bytes:
        return self.digest.digest() if self.digest is not None else b""


def _digest(checksum: Checksum | None) -> Any:
    if checksum is None:
        return None
    if checksum.algorithm not in CHECKSUM_ALGORITHMS:
        supported = ", ".join(CHECKSUM_ALGORITHMS)
        raise Invalid(f"Unsupported checksum algorithm {checksum.algorithm!r}: use {supported}.")
    return hashlib.new(checksum.algorithm)


def _check_offset(upload: Upload, offset: int) -> None:
    if upload.offset != offset:
        raise Conflict(
            f"The upload stands at offset {upload.offset}, not {offset}: "
            "ask for its offset (HEAD) and go on from there."
        )


def _past_end(remaining: int) -> str:
    return f"The upload expects {remaining} more bytes; this part is longer."
