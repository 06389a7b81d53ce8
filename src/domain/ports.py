"""Ports: what the domain needs from the outside world.

Adapters implement these; services receive them. Fakes in
``adapters.memory`` implement them in memory for the unit tests.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO, Generic, TypeVar

from domain.filters import FilterSpec
from domain.model import BlobRef, DataDomain, Framework, Licence, PretrainedModel, Upload, User
from domain.paging import Page, PageRequest
from domain.records import ModelRecord

T = TypeVar("T")


class Repository(abc.ABC, Generic[T]):
    """Storage of one aggregate, inside the current unit of work."""

    @abc.abstractmethod
    def get(self, pk: int) -> T | None: ...

    @abc.abstractmethod
    def add(self, entity: T) -> None:
        """Store a new entity and give it its ``pk``.

        An entity that has a ``pk`` already keeps it (a migration keeps the
        source's pks; the caller checks with ``get`` that it is free), and
        the pks given to later entities come after it.
        """

    @abc.abstractmethod
    def delete(self, entity: T) -> None: ...

    @abc.abstractmethod
    def list(self, spec: FilterSpec) -> list[T]:
        """Entities matching ``spec``, in its order (then by ``pk``)."""

    @abc.abstractmethod
    def page(self, spec: FilterSpec, request: PageRequest) -> Page[T]:
        """One page of what ``list`` would return, and how many it would."""


class UserRepository(Repository[User]):
    @abc.abstractmethod
    def get_by_username(self, username: str) -> User | None: ...


class FrameworkRepository(Repository[Framework]):
    @abc.abstractmethod
    def get_by_name_version(self, name: str, version: str) -> Framework | None: ...


class DomainRepository(Repository[DataDomain]):
    @abc.abstractmethod
    def get_by_name(self, name: str) -> DataDomain | None: ...


class LicenceRepository(Repository[Licence]):
    @abc.abstractmethod
    def get_by_name(self, name: str) -> Licence | None: ...


class PretrainedModelRepository(Repository[PretrainedModel]):
    @abc.abstractmethod
    def records(self, spec: FilterSpec) -> list[ModelRecord]:
        """What ``list`` would return, as records: the same models in the
        same order, read without loading entities."""

    @abc.abstractmethod
    def record(self, pk: int) -> ModelRecord | None:
        """The record of model ``pk`` (what ``get`` would return)."""

    @abc.abstractmethod
    def get_for_update(self, pk: int) -> PretrainedModel | None:
        """The model as committed now, its row locked until the unit of work
        ends: every change of a model goes through here, so two changes of
        one model never interleave."""

    @abc.abstractmethod
    def count_holding(self, sha256: str) -> int:
        """How many models, soft-deleted ones included, point at these bytes."""

    @abc.abstractmethod
    def uses_framework(self, framework: Framework) -> bool: ...

    @abc.abstractmethod
    def uses_licence(self, licence: Licence) -> bool: ...


class UploadRepository(abc.ABC):
    """Resumable uploads in progress, by id, inside the current unit of work."""

    @abc.abstractmethod
    def add(self, upload: Upload) -> None: ...

    @abc.abstractmethod
    def get(self, upload_id: str) -> Upload | None: ...

    @abc.abstractmethod
    def get_for_update(self, upload_id: str) -> Upload | None:
        """The upload as committed now, its row locked until the unit of
        work ends: every change of an upload goes through here."""

    @abc.abstractmethod
    def delete(self, upload: Upload) -> None: ...

    @abc.abstractmethod
    def all(self) -> list[Upload]:
        """Every upload, oldest first."""

    @abc.abstractmethod
    def expired(self, now: datetime) -> list[Upload]:
        """The uploads that expire at ``now`` or before, oldest first."""


class BlobIndex(abc.ABC):
    """Reference counts of stored blobs, kept in the database.

    ``acquire`` and ``release`` run inside the current unit of work; the row
    they touch stays locked until it ends, which serialises them against
    ``collect`` for the same bytes.
    """

    @abc.abstractmethod
    def acquire(self, ref: BlobRef) -> None:
        """Count one more reference to ``ref`` (creating its row)."""

    @abc.abstractmethod
    def release(self, ref: BlobRef) -> None:
        """Count one reference less to ``ref``."""

    @abc.abstractmethod
    def lock(self, ref: BlobRef) -> int:
        """Lock the row of ``ref`` (created with a count of 0 if missing)
        until the unit of work ends, and return its count.

        Every change of a reference takes this row before the model changes,
        so while it is held, the models that point at ``ref`` stay put.
        """

    @abc.abstractmethod
    def set_count(self, ref: BlobRef, count: int) -> None:
        """Overwrite the count of a row locked by ``lock`` (a repair)."""

    @abc.abstractmethod
    def all(self) -> Mapping[str, int]:
        """Every known blob: SHA-256 -> reference count (zero included)."""

    @abc.abstractmethod
    def track(self, ref: BlobRef) -> None:
        """Know ``ref`` with a count of 0 if it is unknown (else change nothing).

        Gives bytes that no row describes (an orphan file) a row that
        ``collect`` can then lock and re-check, as for any released blob.
        """

    @abc.abstractmethod
    def collect(self, ref: BlobRef, delete_file: Callable[[BlobRef], None]) -> bool:
        """In a short transaction of its own: if ``ref`` is unreferenced,
        forget it and call ``delete_file(ref)`` while its row is locked.

        Called after the releasing transaction committed. Returns whether
        the bytes were removed.
        """


class UnitOfWork(abc.ABC):
    """One atomic change: the repositories plus commit, abort and hooks."""

    users: UserRepository
    frameworks: FrameworkRepository
    domains: DomainRepository
    licences: LicenceRepository
    models: PretrainedModelRepository
    uploads: UploadRepository
    blobs: BlobIndex

    @abc.abstractmethod
    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current transaction has committed."""

    @abc.abstractmethod
    def pause(self) -> None:
        """About to spend long outside the store of records (receiving a file):
        if this unit of work has changed nothing yet, end its transaction, so
        that nothing is held meanwhile; the next call starts a new one.

        Entities read before may be stale afterwards: read again what counts.
        """

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def abort(self) -> None: ...


@dataclass(frozen=True)
class StagedBlob:
    """Bytes received and hashed, not yet visible in the store."""

    ref: BlobRef
    handle: Any


@dataclass(frozen=True)
class StoredBlob:
    """A blob file as found in the store, named by its hash (not re-hashed)."""

    ref: BlobRef
    modified: datetime


@dataclass(frozen=True)
class TemporaryFile:
    """A staging leftover or an upload in progress."""

    name: str
    size: int
    modified: datetime
    # The name it was staged under (``stage``'s or ``begin_staging``'s), if any.
    staged_as: str | None = None


class StagingFile(abc.ABC):
    """A named staging file that grows part by part, held by one writer:
    no other writer, in any process sharing the store, gets it meanwhile."""

    @abc.abstractmethod
    def size(self) -> int: ...

    @abc.abstractmethod
    def truncate(self, size: int) -> None:
        """Drop the bytes past ``size``."""

    @abc.abstractmethod
    def append(self, stream: BinaryIO) -> int:
        """Write what ``stream`` holds at the end, read in chunks; returns the
        bytes written. If reading or writing fails, what was written stays
        (``truncate`` drops it)."""

    @abc.abstractmethod
    def sync(self) -> None:
        """Make the bytes written so far durable (they survive a power loss)."""

    @abc.abstractmethod
    def finish(self) -> StagedBlob:
        """The whole file, hashed by reading it and made durable, as staged
        bytes for ``commit`` (or ``discard``): the file itself becomes the
        blob, its bytes never copied within the store."""


class BlobStore(abc.ABC):
    """Content-addressed storage of model files."""

    @abc.abstractmethod
    def stage(
        self, stream: BinaryIO, max_size: int | None = None, name: str | None = None
    ) -> StagedBlob:
        """Read ``stream`` in chunks, hashing while writing, into a staging area.

        Raises ``TooLarge`` past ``max_size`` bytes and ``StorageFull`` when
        the store has no room left, keeping nothing either way. A ``name``
        (lowercase hex) names the staging file, so that ``open_staging`` can
        read it while it is being written, from any process sharing the store.
        """

    @abc.abstractmethod
    def open_staging(self, name: str) -> BinaryIO:
        """The staging file ``name``, opened for reading while it grows; it
        keeps its bytes once committed or discarded. ``NotFound`` when it is
        gone already."""

    @abc.abstractmethod
    def begin_staging(self, name: str) -> None:
        """An empty staging file ``name`` (lowercase hex) for bytes that
        arrive in parts, from any process sharing the store; it must not
        exist yet. It is one of the ``temporaries`` until finished."""

    @abc.abstractmethod
    def resume_staging(self, name: str) -> AbstractContextManager[StagingFile]:
        """The staging file ``name`` of ``begin_staging``, held for writing
        until the block ends (or the process dies). ``Busy`` when another
        writer holds it, ``NotFound`` when it is gone (finished, removed)."""

    @abc.abstractmethod
    def remove_staging(self, name: str) -> None:
        """Remove the staging file ``name`` of ``begin_staging`` (a no-op if
        it is gone); a writer holding it may finish, with nothing kept."""

    @abc.abstractmethod
    def commit(self, staged: StagedBlob) -> BlobRef:
        """Make staged bytes visible under their hash (a no-op if present)."""

    @abc.abstractmethod
    def discard(self, staged: StagedBlob) -> None: ...

    @abc.abstractmethod
    def open(self, ref: BlobRef) -> BinaryIO:
        """A seekable binary file of the bytes; raises ``NotFound`` if absent."""

    @abc.abstractmethod
    def exists(self, ref: BlobRef) -> bool: ...

    @abc.abstractmethod
    def delete(self, ref: BlobRef) -> None:
        """Remove the bytes (a no-op if absent)."""

    @abc.abstractmethod
    def stored(self) -> Iterator[StoredBlob]:
        """Every blob present, with the size and time of its file."""

    @abc.abstractmethod
    def temporaries(self) -> Iterator[TemporaryFile]:
        """Every staging file, finished or still being written."""

    @abc.abstractmethod
    def remove_temporary(self, name: str) -> None:
        """Remove one staging file (a no-op if it is already gone)."""

    def public_url(self, ref: BlobRef, filename: str, expires: timedelta) -> str | None:
        """A URL that serves the stored bytes of ``ref`` for ``expires``, with
        no login, as an attachment named ``filename``: where a download may
        be redirected. None (the default) when the store has no such URLs."""
        return None

    @abc.abstractmethod
    def check(self) -> str | None:
        """Whether the store can take a file now, cheaply (for a health
        check): None when it can, else what is wrong, in a short sentence."""


class ProxyBodyFolder(abc.ABC):
    """The folder where a proxy in front (nginx) writes the bodies of uploads
    before it hands their requests over (``modelhub.proxy_body_dir``).

    The proxy removes each file when its request ends; a proxy that crashes
    or is killed mid-upload leaves its files behind, for ``gc`` to collect.
    """

    @abc.abstractmethod
    def files(self) -> Iterator[TemporaryFile]:
        """Every body file in it, with its size and the time of its last write."""

    @abc.abstractmethod
    def remove(self, name: str) -> None:
        """Remove one body file (a no-op if it is already gone)."""


class Fetcher(abc.ABC):
    """Where imported model files come from."""

    @abc.abstractmethod
    def open(self, location: str, relative_to: str | None = None) -> BinaryIO:
        """A readable stream of the bytes at ``location``: an http(s) URL, or
        a local path (resolved against the folder ``relative_to``).

        A download that breaks off is resumed where the server allows it;
        a source that cannot be read raises ``SourceUnavailable``, at once
        or from ``read``.
        """


class SourceServer(abc.ABC):
    """A running UFDL (or modelhub) server that a migration copies from.

    Records are given as its API shows them (JSON objects, in pk order); a
    source that cannot be read raises ``SourceUnavailable``.
    """

    location: str

    @abc.abstractmethod
    def licences(self) -> list[Mapping[str, Any]]: ...

    @abc.abstractmethod
    def frameworks(self) -> list[Mapping[str, Any]]: ...

    @abc.abstractmethod
    def domains(self) -> list[Mapping[str, Any]]: ...

    @abc.abstractmethod
    def models(self) -> list[Mapping[str, Any]]:
        """Every pretrained model, soft-deleted ones included."""

    @abc.abstractmethod
    def username(self, pk: int) -> str | None:
        """The name of the source's user ``pk``, or None when the source does
        not show it (no such user, or not to this login)."""

    @abc.abstractmethod
    def open_file(self, pk: int) -> BinaryIO:
        """A readable stream of model ``pk``'s file, resumed where it breaks
        off; ``SourceUnavailable`` (at once or from ``read``) when the source
        cannot deliver it."""

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of the connections to the source."""


class FileSink(abc.ABC):
    """Where exported model files go."""

    @abc.abstractmethod
    def write(self, name: str, stream: BinaryIO) -> str:
        """Copy ``stream`` to a file called ``name``; returns its location."""


class PasswordHasher(abc.ABC):
    @abc.abstractmethod
    def hash(self, password: str) -> str: ...

    @abc.abstractmethod
    def verify(self, password_hash: str, password: str) -> bool: ...


class AttemptLog(abc.ABC):
    """Recent failed logins, per key (a username or a client address)."""

    @abc.abstractmethod
    def record(self, key: str, when: datetime) -> None: ...

    @abc.abstractmethod
    def since(self, key: str, start: datetime) -> list[datetime]:
        """The failures of ``key`` after ``start``, oldest first."""

    @abc.abstractmethod
    def clear(self, key: str) -> None: ...


class TokenSigner(abc.ABC):
    @abc.abstractmethod
    def sign(self, claims: dict[str, Any]) -> str: ...

    @abc.abstractmethod
    def decode(self, token: str) -> dict[str, Any]:
        """The claims of a token whose signature and algorithm are valid.

        Raises ``NotAuthenticated`` otherwise.
        """


@dataclass(frozen=True)
class ModelUsage:
    """What was served of one model's file and fetched for it upstream.

    ``model_pk`` is None for the figures of models since hard-deleted: they
    still count in the totals, no longer under a model.
    """

    model_pk: int | None
    downloads: int = 0
    bytes_served: int = 0
    bytes_fetched: int = 0


class TransferEvents:
    """What the upstream transfers of this process do, told as it happens
    (for metrics). This base ignores it all."""

    def started(self, pk: int) -> None:
        """A transfer of model ``pk``'s file began here."""

    def stored(self, pk: int) -> None:
        """It ended with the file stored."""

    def failed(self, pk: int) -> None:
        """It failed (one abandoned, its model given a file otherwise, did not)."""


class UsageLog(abc.ABC):
    """Download and upstream-transfer figures per model.

    Each record is an atomic increment in a short transaction of its own,
    outside any unit of work and without the model's row lock, so it can be
    called after a request has committed (a download ends long after) and
    two transfers that end at once both count.
    """

    @abc.abstractmethod
    def served(self, pk: int, nbytes: int, download: bool) -> None:
        """Add ``nbytes`` sent of model ``pk``'s file, and one download if
        ``download``. A model gone meanwhile: the figures count as a deleted
        model's."""

    @abc.abstractmethod
    def fetched(self, pk: int, nbytes: int) -> None:
        """Add ``nbytes`` received from model ``pk``'s upstream source."""

    @abc.abstractmethod
    def figures(self) -> list[ModelUsage]:
        """Every model with figures, by pk, then (``model_pk`` None) the sum
        of the hard-deleted models' figures if there are any."""

    def figures_of(self, pk: int) -> ModelUsage:
        """The figures of model ``pk`` (zeros when it has none)."""
        found = (u for u in self.figures() if u.model_pk == pk)
        return next(found, ModelUsage(pk))
