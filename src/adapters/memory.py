"""In-memory implementations of every port.

They keep the unit tests free of databases and disks. The contract tests
(``tests/integration/test_repository_contract.py`` and
``test_blob_store_contract.py``) hold them to the same behaviour as the
SQLAlchemy and filesystem adapters, rollback on abort included.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO, Generic, TypeVar, cast

from domain import filters as f
from domain.clock import Clock, SystemClock
from domain.errors import Busy, NotAuthenticated, NotFound, SourceUnavailable, TooLarge
from domain.fields import Resource
from domain.model import BlobRef, DataDomain, Framework, Licence, PretrainedModel, Upload, User
from domain.paging import Page, PageRequest
from domain.ports import (
    BlobIndex,
    BlobStore,
    DomainRepository,
    Fetcher,
    FileSink,
    FrameworkRepository,
    LicenceRepository,
    ModelUsage,
    PasswordHasher,
    PretrainedModelRepository,
    ProxyBodyFolder,
    SourceServer,
    StagedBlob,
    StagingFile,
    StoredBlob,
    TemporaryFile,
    TokenSigner,
    UnitOfWork,
    UploadRepository,
    UsageLog,
    UserRepository,
)
from domain.records import ModelRecord
from domain.resources import DOMAIN, FRAMEWORK, LICENCE, PRETRAINED_MODEL, USER
from domain.transfer import CHUNK_SIZE

T = TypeVar("T")
Accessor = Callable[[Any], Any]


def _path(*names: str) -> Accessor:
    def get(entity: Any) -> Any:
        for name in names:
            if entity is None:
                return None
            entity = getattr(entity, name)
        return entity

    return get


def accessors(resource: Resource) -> dict[str, Accessor]:
    """How to read each filterable field of ``resource`` from an entity."""
    return {name: _path(*resource.value_path(name)) for name in resource.filters}


def matches(expression: f.Expression, entity: Any, accessors: Mapping[str, Accessor]) -> bool:
    """Evaluate a filter expression in two-valued logic: a comparison with a
    missing (null) value is false, and ``invert`` negates the result."""
    if isinstance(expression, f.And):
        result = all(matches(e, entity, accessors) for e in expression.sub_expressions)
    elif isinstance(expression, f.Or):
        result = any(matches(e, entity, accessors) for e in expression.sub_expressions)
    else:
        value = accessors[expression.field](entity)
        if isinstance(expression, f.IsNull):
            result = value is None
        elif value is None:
            result = False
        elif isinstance(expression, f.Exact):
            wanted = expression.value
            if expression.case_insensitive and isinstance(value, str):
                result = value.lower() == str(wanted).lower()
            else:
                result = value == wanted
        elif isinstance(expression, f.Contains):
            if expression.case_insensitive:
                result = expression.sub_string.lower() in value.lower()
            else:
                result = expression.sub_string in value
        else:
            result = _COMPARE[expression.operator](value, expression.value)
    return result != expression.invert


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def ordered(
    entities: list[Any], order_by: Iterable[f.OrderBy], accessors: Mapping[str, Accessor]
) -> list[Any]:
    """Sort by the given keys, then by pk."""
    keys = [*list(order_by), f.OrderBy("pk")]

    def compare(a: Any, b: Any) -> int:
        for key in keys:
            x, y = accessors[key.field](a), accessors[key.field](b)
            if x == y:
                continue
            if x is None or y is None:
                first = x is None
                return -1 if first == key.effective_nulls_first else 1
            result = -1 if x < y else 1
            return result if key.ascending else -result
        return 0

    return sorted(entities, key=functools.cmp_to_key(compare))


class MemoryRepository(Generic[T]):
    """Entities in a dict by pk; ``rollback`` returns to the last ``checkpoint``."""

    def __init__(self, resource: Resource) -> None:
        self.entities: dict[int, T] = {}
        self.accessors = accessors(resource)
        self._next_pk = 1  # like a database sequence, never rolled back
        self._saved: dict[int, tuple[T, dict[str, Any]]] = {}

    def checkpoint(self) -> None:
        self._saved = {pk: (e, _state(e)) for pk, e in self.entities.items()}

    def rollback(self) -> None:
        """Forget what was added or deleted since the checkpoint, and put
        back the values of the entities it saved, in the same objects."""
        self.entities = {}
        for pk, (entity, state) in self._saved.items():
            vars(entity).update(_state(state))
            self.entities[pk] = entity

    def get(self, pk: int) -> T | None:
        return self.entities.get(pk)

    def add(self, entity: T) -> None:
        """A new pk from the counter, or the entity's own (which must be
        free), the counter then moved past it."""
        pk = entity.pk  # type: ignore[attr-defined]
        if pk is None:
            pk = entity.pk = self._next_pk  # type: ignore[attr-defined]
        elif pk in self.entities:
            raise ValueError(f"pk {pk} is taken")  # a database's unique violation
        self._next_pk = max(self._next_pk, pk + 1)
        self.entities[pk] = entity

    def delete(self, entity: T) -> None:
        del self.entities[entity.pk]  # type: ignore[attr-defined]

    def list(self, spec: f.FilterSpec) -> list[T]:
        found = [
            e
            for e in self.entities.values()
            if all(matches(x, e, self.accessors) for x in spec.expressions)
        ]
        return ordered(found, spec.order_by, self.accessors)

    def page(self, spec: f.FilterSpec, request: PageRequest) -> Page[T]:
        found = self.list(spec)
        return Page(found[request.offset : request.offset + request.size], len(found), request)

    def _first(self, **wanted: Any) -> T | None:
        for entity in self.entities.values():
            if all(getattr(entity, k) == v for k, v in wanted.items()):
                return entity
        return None


def _state(entity: Any) -> dict[str, Any]:
    """A copy of an entity's attributes (or of such a copy), lists copied too."""
    values = entity if isinstance(entity, dict) else vars(entity)
    return {k: list(v) if isinstance(v, list) else v for k, v in values.items()}


class MemoryUsers(MemoryRepository[User], UserRepository):
    def __init__(self) -> None:
        super().__init__(USER)

    def get_by_username(self, username: str) -> User | None:
        return self._first(username=username)


class MemoryFrameworks(MemoryRepository[Framework], FrameworkRepository):
    def __init__(self) -> None:
        super().__init__(FRAMEWORK)

    def get_by_name_version(self, name: str, version: str) -> Framework | None:
        return self._first(name=name, version=version)


class MemoryDomains(MemoryRepository[DataDomain], DomainRepository):
    def __init__(self) -> None:
        super().__init__(DOMAIN)

    def get_by_name(self, name: str) -> DataDomain | None:
        return self._first(name=name)


class MemoryLicences(MemoryRepository[Licence], LicenceRepository):
    def __init__(self) -> None:
        super().__init__(LICENCE)

    def get_by_name(self, name: str) -> Licence | None:
        return self._first(name=name)


class MemoryModels(MemoryRepository[PretrainedModel], PretrainedModelRepository):
    def __init__(self) -> None:
        super().__init__(PRETRAINED_MODEL)

    def records(self, spec: f.FilterSpec) -> list[ModelRecord]:
        return [ModelRecord.of(m) for m in self.list(spec)]

    def record(self, pk: int) -> ModelRecord | None:
        model = self.get(pk)
        return ModelRecord.of(model) if model is not None else None

    def get_for_update(self, pk: int) -> PretrainedModel | None:
        return self.get(pk)  # one thread: nothing to lock

    def count_holding(self, sha256: str) -> int:
        return sum(m.data_sha256 == sha256 for m in self.entities.values())

    def uses_framework(self, framework: Framework) -> bool:
        return self._first(framework=framework) is not None

    def uses_licence(self, licence: Licence) -> bool:
        return self._first(licence=licence) is not None


class MemoryUploads(UploadRepository):
    """Uploads in a dict by id; ``rollback`` as ``MemoryRepository``'s."""

    def __init__(self) -> None:
        self.uploads: dict[str, Upload] = {}
        self._saved: dict[str, tuple[Upload, dict[str, Any]]] = {}

    def checkpoint(self) -> None:
        self._saved = {key: (u, _state(u)) for key, u in self.uploads.items()}

    def rollback(self) -> None:
        self.uploads = {}
        for key, (upload, state) in self._saved.items():
            vars(upload).update(_state(state))
            self.uploads[key] = upload

    def add(self, upload: Upload) -> None:
        if upload.id in self.uploads:
            raise ValueError(f"upload {upload.id} exists")  # a database's unique violation
        self.uploads[upload.id] = upload

    def get(self, upload_id: str) -> Upload | None:
        return self.uploads.get(upload_id)

    def get_for_update(self, upload_id: str) -> Upload | None:
        return self.get(upload_id)  # one thread: nothing to lock

    def delete(self, upload: Upload) -> None:
        del self.uploads[upload.id]

    def all(self) -> list[Upload]:
        return sorted(self.uploads.values(), key=lambda u: (u.created, u.id))

    def expired(self, now: datetime) -> list[Upload]:
        return [u for u in self.all() if u.expired(now)]


class MemoryBlobIndex(BlobIndex):
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._saved: dict[str, int] = {}

    def checkpoint(self) -> None:
        self._saved = dict(self.counts)

    def rollback(self) -> None:
        self.counts = dict(self._saved)

    def acquire(self, ref: BlobRef) -> None:
        self.counts[ref.sha256] = self.counts.get(ref.sha256, 0) + 1

    def release(self, ref: BlobRef) -> None:
        if ref.sha256 in self.counts:
            self.counts[ref.sha256] -= 1

    def all(self) -> Mapping[str, int]:
        return dict(self.counts)

    def track(self, ref: BlobRef) -> None:
        self.counts.setdefault(ref.sha256, 0)

    def lock(self, ref: BlobRef) -> int:
        return self.counts.setdefault(ref.sha256, 0)

    def set_count(self, ref: BlobRef, count: int) -> None:
        self.counts[ref.sha256] = count

    def collect(self, ref: BlobRef, delete_file: Callable[[BlobRef], None]) -> bool:
        if ref.sha256 not in self.counts or self.counts[ref.sha256] > 0:
            return False
        del self.counts[ref.sha256]
        delete_file(ref)
        return True


class MemoryUnitOfWork(UnitOfWork):
    """Changes apply at once; ``commit`` runs the after-commit callbacks and
    ``abort`` puts back every record and count as the last commit left them,
    as a database's rollback does."""

    def __init__(self) -> None:
        self.users = MemoryUsers()
        self.frameworks = MemoryFrameworks()
        self.domains = MemoryDomains()
        self.licences = MemoryLicences()
        self.models = MemoryModels()
        self.uploads = MemoryUploads()
        self.blobs = MemoryBlobIndex()
        self.pending: list[Callable[[], None]] = []
        self.commits = 0

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.pending.append(callback)

    def pause(self) -> None:
        """Nothing to release: changes apply at once and hold nothing."""

    def commit(self) -> None:
        self.commits += 1
        callbacks, self.pending = self.pending, []
        for callback in callbacks:
            callback()
        for part in self._parts():
            part.checkpoint()

    def abort(self) -> None:
        self.pending = []
        for part in self._parts():
            part.rollback()

    def _parts(self) -> tuple[MemoryRepository[Any] | MemoryUploads | MemoryBlobIndex, ...]:
        return (
            self.users,
            self.frameworks,
            self.domains,
            self.licences,
            self.models,
            self.uploads,
            self.blobs,
        )


class MemoryBlobStore(BlobStore):
    """Blobs and staged bytes in dicts, each with the time it was written."""

    def __init__(self, chunk_size: int = CHUNK_SIZE, clock: Clock | None = None) -> None:
        self.blobs: dict[str, bytes] = {}
        self.staged: dict[str | int, bytes] = {}
        self.growing: dict[str | int, bytearray] = {}
        # Staging files growing part by part, and those held by a writer.
        self.parts: dict[str, bytearray] = {}
        self.writing: set[str] = set()
        self.modified: dict[str | int, datetime] = {}
        self.chunk_size = chunk_size
        self.clock = clock or SystemClock()
        self._handles = itertools.count(1)
        self._guard = threading.Lock()

    def stage(
        self, stream: BinaryIO, max_size: int | None = None, name: str | None = None
    ) -> StagedBlob:
        digest, buffer = hashlib.sha256(), bytearray()
        handle: str | int = name if name is not None else next(self._handles)
        self.growing[handle] = buffer
        try:
            while chunk := stream.read(self.chunk_size):
                buffer += chunk
                if max_size is not None and len(buffer) > max_size:
                    raise TooLarge.over_limit(max_size)
                digest.update(chunk)
        finally:
            del self.growing[handle]
        staged = StagedBlob(BlobRef(digest.hexdigest(), len(buffer)), handle)
        self.staged[staged.handle] = bytes(buffer)
        self.modified[staged.handle] = self.clock.now()
        return staged

    def open_staging(self, name: str) -> BinaryIO:
        data = self.growing.get(name, self.staged.get(name))
        if data is None:
            raise NotFound("The file being fetched is gone.")
        return cast(BinaryIO, _Reader(data))

    def begin_staging(self, name: str) -> None:
        if name in self.parts or name in self.staged:
            raise FileExistsError(name)
        self.parts[name] = bytearray()
        self.modified[name] = self.clock.now()

    @contextlib.contextmanager
    def resume_staging(self, name: str) -> Iterator[StagingFile]:
        with self._guard:
            if name not in self.parts:
                raise NotFound("The bytes of this upload are no longer in the store.")
            if name in self.writing:
                raise Busy()
            self.writing.add(name)
        try:
            yield _MemoryStagingFile(self, name, self.parts[name])
        finally:
            with self._guard:
                self.writing.discard(name)

    def remove_staging(self, name: str) -> None:
        self.parts.pop(name, None)
        self.modified.pop(name, None)

    def commit(self, staged: StagedBlob) -> BlobRef:
        data = self.staged.pop(staged.handle, None)
        if data is None and staged.ref.sha256 not in self.blobs:
            raise FileNotFoundError("staged bytes were discarded before commit")
        if data is not None and staged.ref.sha256 not in self.blobs:
            self.blobs[staged.ref.sha256] = data
            self.modified[staged.ref.sha256] = self.modified[staged.handle]
        self.modified.pop(staged.handle, None)
        return staged.ref

    def discard(self, staged: StagedBlob) -> None:
        self.staged.pop(staged.handle, None)
        self.modified.pop(staged.handle, None)

    def open(self, ref: BlobRef) -> BinaryIO:
        if ref.sha256 not in self.blobs:
            raise NotFound("The file of this model is missing from the store.")
        return io.BytesIO(self.blobs[ref.sha256])

    def exists(self, ref: BlobRef) -> bool:
        return ref.sha256 in self.blobs

    def delete(self, ref: BlobRef) -> None:
        self.blobs.pop(ref.sha256, None)
        self.modified.pop(ref.sha256, None)

    def stored(self) -> Iterator[StoredBlob]:
        for sha256, data in list(self.blobs.items()):
            yield StoredBlob(BlobRef(sha256, len(data)), self._when(sha256))

    def temporaries(self) -> Iterator[TemporaryFile]:
        for handle, data in [*self.staged.items(), *self.parts.items()]:
            staged_as = handle if isinstance(handle, str) else None
            yield TemporaryFile(str(handle), len(data), self._when(handle), staged_as)

    def remove_temporary(self, name: str) -> None:
        handle: str | int = name if name in self.staged or name in self.parts else int(name)
        self.staged.pop(handle, None)
        self.parts.pop(str(handle), None)
        self.modified.pop(handle, None)

    def check(self) -> str | None:
        return None

    def _when(self, key: str | int) -> datetime:
        # Bytes a test put in the dicts directly count as very old.
        return self.modified.get(key, datetime.min.replace(tzinfo=UTC))


class _MemoryStagingFile(StagingFile):
    """A part-by-part staging file of a ``MemoryBlobStore``, held."""

    def __init__(self, store: MemoryBlobStore, name: str, data: bytearray) -> None:
        self.store, self.name, self.data = store, name, data

    def size(self) -> int:
        return len(self.data)

    def truncate(self, size: int) -> None:
        del self.data[size:]

    def append(self, stream: BinaryIO) -> int:
        written = 0
        while chunk := stream.read(self.store.chunk_size):
            self.data += chunk
            written += len(chunk)
        self.store.modified[self.name] = self.store.clock.now()
        return written

    def sync(self) -> None:
        """Nothing to do: memory is as durable as it gets here."""

    def finish(self) -> StagedBlob:
        data = bytes(self.data)
        if self.store.parts.get(self.name) is self.data:  # else removed meanwhile
            del self.store.parts[self.name]
            self.store.staged[self.name] = data
        ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
        return StagedBlob(ref, self.name)


class _Reader:
    """Reads a byte buffer that may still grow, from where it last stopped."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = data
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.position + size
        chunk = bytes(self.data[self.position : end])
        self.position += len(chunk)
        return chunk

    def close(self) -> None:
        pass


class MemoryFetcher(Fetcher):
    """Sources as a dict of location -> bytes; remembers what was opened."""

    def __init__(self, sources: Mapping[str, bytes] | None = None) -> None:
        self.sources = dict(sources or {})
        self.opened: list[str] = []

    def open(self, location: str, relative_to: str | None = None) -> BinaryIO:
        self.opened.append(location)
        if location not in self.sources:
            raise SourceUnavailable(f"Cannot fetch {location}: not found.")
        return io.BytesIO(self.sources[location])


class MemoryProxyBodies(ProxyBodyFolder):
    """A proxy's body files as a dict of name -> bytes, each dated by the
    clock when last written; ``write`` is the proxy's side."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.bodies: dict[str, bytes] = {}
        self.modified: dict[str, datetime] = {}
        self.clock = clock or SystemClock()

    def write(self, name: str, data: bytes) -> None:
        """Add ``data`` to the body file ``name``, as a proxy receiving it does."""
        self.bodies[name] = self.bodies.get(name, b"") + data
        self.modified[name] = self.clock.now()

    def files(self) -> Iterator[TemporaryFile]:
        for name, data in sorted(self.bodies.items()):
            yield TemporaryFile(name, len(data), self.modified[name])

    def remove(self, name: str) -> None:
        self.bodies.pop(name, None)
        self.modified.pop(name, None)


class MemorySink(FileSink):
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def write(self, name: str, stream: BinaryIO) -> str:
        self.files[name] = stream.read()
        return f"memory:{name}"


class MemorySourceServer(SourceServer):
    """A source of a migration as lists of records (as the API shows them)
    and files by model pk; remembers which files were opened. As a server,
    it serves no file of a soft-deleted model. A file in ``broken`` breaks
    off half way, as a download that cannot be resumed."""

    def __init__(
        self,
        licences: Iterable[Mapping[str, Any]] = (),
        frameworks: Iterable[Mapping[str, Any]] = (),
        domains: Iterable[Mapping[str, Any]] = (),
        models: Iterable[Mapping[str, Any]] = (),
        usernames: Mapping[int, str] | None = None,
        files: Mapping[int, bytes] | None = None,
    ) -> None:
        self.location = "memory://source"
        self.records = {
            "licences": [dict(r) for r in licences],
            "frameworks": [dict(r) for r in frameworks],
            "domains": [dict(r) for r in domains],
            "models": [dict(r) for r in models],
        }
        self.usernames = dict(usernames or {})
        self.files = dict(files or {})
        self.broken: set[int] = set()
        self.opened: list[int] = []

    def licences(self) -> list[Mapping[str, Any]]:
        return list(self.records["licences"])

    def frameworks(self) -> list[Mapping[str, Any]]:
        return list(self.records["frameworks"])

    def domains(self) -> list[Mapping[str, Any]]:
        return list(self.records["domains"])

    def models(self) -> list[Mapping[str, Any]]:
        return list(self.records["models"])

    def username(self, pk: int) -> str | None:
        return self.usernames.get(pk)

    def open_file(self, pk: int) -> BinaryIO:
        self.opened.append(pk)
        deleted = any(
            m.get("pk") == pk and m.get("deletion_time") is not None for m in self.records["models"]
        )
        if deleted:
            raise SourceUnavailable(f"Cannot fetch the file of model {pk}: HTTP 410 Gone.")
        if pk not in self.files:
            raise SourceUnavailable(f"Cannot fetch the file of model {pk}: HTTP 404 Not Found.")
        data = self.files[pk]
        if pk in self.broken:
            return cast(BinaryIO, _BreaksOff(data[: len(data) // 2]))
        return io.BytesIO(data)

    def close(self) -> None:
        pass


class _BreaksOff(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if not chunk:
            raise SourceUnavailable("Cannot fetch the file: the connection broke off.")
        return chunk


class PlainPasswordHasher(PasswordHasher):
    """A fast, insecure hasher for unit tests only."""

    def hash(self, password: str) -> str:
        return "plain$" + password[::-1]

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == self.hash(password)


class MemoryTokenSigner(TokenSigner):
    """Tokens are opaque keys into a dict of claims; unknown keys are invalid."""

    def __init__(self) -> None:
        self.issued: dict[str, dict[str, Any]] = {}

    def sign(self, claims: dict[str, Any]) -> str:
        token = f"token-{len(self.issued) + 1}"
        self.issued[token] = dict(claims)
        return token

    def decode(self, token: str) -> dict[str, Any]:
        if token not in self.issued:
            raise NotAuthenticated.bad_token()
        return dict(self.issued[token])


class MemoryUsageLog(UsageLog):
    """Figures per model pk in a dict (thread-safe). It does not see hard
    deletes: a deleted model's figures stay under its pk, which the fake
    repositories never give again, and readers skip pks without a model."""

    def __init__(self) -> None:
        self.usage: dict[int, ModelUsage] = {}
        self._lock = threading.Lock()

    def served(self, pk: int, nbytes: int, download: bool) -> None:
        self._add(pk, int(download), nbytes, 0)

    def fetched(self, pk: int, nbytes: int) -> None:
        self._add(pk, 0, 0, nbytes)

    def figures(self) -> list[ModelUsage]:
        with self._lock:
            return [self.usage[pk] for pk in sorted(self.usage)]

    def _add(self, pk: int, downloads: int, served: int, fetched: int) -> None:
        with self._lock:
            old = self.usage.get(pk, ModelUsage(pk))
            self.usage[pk] = ModelUsage(
                pk,
                old.downloads + downloads,
                old.bytes_served + served,
                old.bytes_fetched + fetched,
            )
