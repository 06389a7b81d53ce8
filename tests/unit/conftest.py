"""Unit-test fixtures: every service wired to the in-memory fakes.

No database, no disk: the unit of work, the blob store, the password hasher
and the token signer all live in memory, and time is a fake clock the tests
move by hand.

Every fixture that adds records commits them, as a database fixture would,
so that they outlive an ``abort()`` (a dry-run import aborts) however the
unit of work rolls back.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from adapters.attempts import InMemoryAttemptLog
from adapters.memory import (
    MemoryBlobStore,
    MemoryTokenSigner,
    MemoryUnitOfWork,
    PlainPasswordHasher,
)
from domain.fields import Field
from domain.filters import FilterSpec
from domain.model import Framework, PretrainedModel, User
from domain.ports import BlobStore, Repository, UnitOfWork
from domain.services.auth import Auth, LoginThrottle
from domain.services.domains import Domains
from domain.services.frameworks import Frameworks
from domain.services.licences import Licences
from domain.services.pretrained_models import PretrainedModels
from domain.services.seed import seed
from domain.services.uploads import Uploads
from domain.services.users import Users

MAX_FILE_SIZE = 1024
START = datetime(2026, 11, 26, 23, 42, 27, 123456, tzinfo=UTC)
PASSWORDS = {"admin": "admin-secret", "user": "user-secret", "inactive": "inactive-secret"}
T = TypeVar("T")


def everything(repository: Repository[T]) -> list[T]:
    """Every record of a repository, soft-deleted models included, in pk
    order: read through the port, as any adapter would answer it."""
    return repository.list(FilterSpec(include_inactive=True))


def stored_bytes(store: BlobStore) -> dict[str, bytes]:
    """SHA-256 -> bytes of every blob in the store, read through the port."""
    return {blob.ref.sha256: store.open(blob.ref).read() for blob in store.stored()}


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self.current += delta if delta is not None else timedelta(**kwargs)
        return self.current


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hasher() -> PlainPasswordHasher:
    return PlainPasswordHasher()


@pytest.fixture
def signer() -> MemoryTokenSigner:
    return MemoryTokenSigner()


@pytest.fixture
def uow() -> MemoryUnitOfWork:
    """The fake unit of work, seeded and committed like a fresh database."""
    uow = MemoryUnitOfWork()
    seed(uow)
    uow.commit()
    return uow


@pytest.fixture
def store() -> MemoryBlobStore:
    return MemoryBlobStore()


def add_user(
    uow: MemoryUnitOfWork,
    hasher: PlainPasswordHasher,
    name: str,
    password: str | None = None,
    **kw: Any,
) -> User:
    """A committed account; its password is ``PASSWORDS[name]`` unless given."""
    secret = PASSWORDS[name] if password is None else password
    user = User(username=name, password_hash=hasher.hash(secret), **kw)
    uow.users.add(user)
    uow.commit()
    return user


@pytest.fixture
def admin(uow: MemoryUnitOfWork, hasher: PlainPasswordHasher) -> User:
    return add_user(uow, hasher, "admin", is_staff=True)


@pytest.fixture
def user(uow: MemoryUnitOfWork, hasher: PlainPasswordHasher) -> User:
    return add_user(uow, hasher, "user")


@pytest.fixture
def inactive(uow: MemoryUnitOfWork, hasher: PlainPasswordHasher) -> User:
    # Staff, so a test shows that inactivity alone is what locks it out.
    return add_user(uow, hasher, "inactive", is_staff=True, is_active=False)


@pytest.fixture
def anonymous() -> None:
    return None


@pytest.fixture
def models(uow: MemoryUnitOfWork, store: MemoryBlobStore, clock: FakeClock) -> PretrainedModels:
    return PretrainedModels(uow, store, clock, max_file_size=MAX_FILE_SIZE)


@pytest.fixture
def frameworks(uow: MemoryUnitOfWork) -> Frameworks:
    return Frameworks(uow)


@pytest.fixture
def domains(uow: MemoryUnitOfWork) -> Domains:
    return Domains(uow)


@pytest.fixture
def licences(uow: MemoryUnitOfWork) -> Licences:
    return Licences(uow)


@pytest.fixture
def users(uow: MemoryUnitOfWork, hasher: PlainPasswordHasher, clock: FakeClock) -> Users:
    return Users(uow, hasher, clock)


@pytest.fixture
def auth(
    uow: MemoryUnitOfWork,
    hasher: PlainPasswordHasher,
    signer: MemoryTokenSigner,
    clock: FakeClock,
) -> Auth:
    return Auth(uow, hasher, signer, clock)


@pytest.fixture
def framework(uow: MemoryUnitOfWork) -> Framework:
    fw = Framework("pytorch", "2.1")
    uow.frameworks.add(fw)
    uow.commit()
    return fw


@pytest.fixture
def model_data(framework: Framework) -> dict[str, Any]:
    """A valid create body."""
    return {
        "framework": framework.pk,
        "domain": "od",
        "licence": "MIT",
        "url": "https://example.org/models/yolo",
        "description": "An object detector.",
        "name": "yolo",
    }


@pytest.fixture
def model(
    models: PretrainedModels, admin: User, model_data: dict[str, Any], uow: MemoryUnitOfWork
) -> PretrainedModel:
    """An active model without a file, committed."""
    created = models.create(admin, model_data)
    uow.commit()
    return created


@pytest.fixture
def model_with_file(
    models: PretrainedModels, admin: User, model: PretrainedModel, uow: MemoryUnitOfWork
) -> PretrainedModel:
    """The ``model`` fixture with ``b"weights"`` attached and committed."""
    models.set_file(admin, model.pk, io.BytesIO(b"weights"))
    uow.commit()
    return model


@pytest.fixture
def uploads(uow: MemoryUnitOfWork, store: MemoryBlobStore, clock: FakeClock) -> Uploads:
    """Resumable uploads, each "transaction of its own" committing the fake."""

    @contextmanager
    def transactions() -> Iterator[UnitOfWork]:
        try:
            yield uow
        except BaseException:
            uow.abort()
            raise
        uow.commit()

    def models_in(unit: UnitOfWork) -> PretrainedModels:
        return PretrainedModels(unit, store, clock, MAX_FILE_SIZE)

    return Uploads(uow, store, clock, transactions, models_in)


# A small login throttle, so a test reaches its limits in a few attempts.
THROTTLE = LoginThrottle(per_username=3, per_address=5, window=timedelta(minutes=1))


@pytest.fixture
def attempts() -> InMemoryAttemptLog:
    return InMemoryAttemptLog()


@pytest.fixture
def throttled_auth(
    uow: MemoryUnitOfWork,
    hasher: PlainPasswordHasher,
    signer: MemoryTokenSigner,
    clock: FakeClock,
    attempts: InMemoryAttemptLog,
) -> Auth:
    """``Auth`` counting failed logins in ``attempts``, limited by ``THROTTLE``."""
    return Auth(uow, hasher, signer, clock, attempts=attempts, throttle=THROTTLE)


def valid_text(field: Field, variant: int = 0) -> str:
    """A valid value of the text ``field``, a different one for each variant.

    A field with a pattern gets a SHA-256 in hex, the one kind of pattern
    declared; the assertion names any other.
    """
    if field.pattern is not None:
        value = hashlib.sha256(f"{field.name} {variant}".encode()).hexdigest()
        assert re.fullmatch(field.pattern, value), f"no sample for the pattern of {field.name}"
        return value
    if field.url:
        return f"https://example.org/{field.name}/{variant}"
    return f"{field.name} {variant}"
