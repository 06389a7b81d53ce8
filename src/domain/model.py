"""Entities and value objects of the registry.

Plain dataclasses: the SQLAlchemy adapter maps them imperatively, so they
carry no persistence code. ``eq=False`` keeps identity semantics, which the
ORM's identity map relies on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Primary keys, and the references to them, are 32-bit integers in the
# database: a number outside this range names no record.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def fits_int_column(value: int) -> bool:
    """Whether ``value`` can be compared with a primary key or reference."""
    return INT_MIN <= value <= INT_MAX


@dataclass(frozen=True)
class BlobRef:
    """A reference to stored bytes, addressed by their content."""

    sha256: str
    size: int


@dataclass(eq=False)
class User:
    username: str
    password_hash: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    date_joined: datetime | None = None
    last_login: datetime | None = None
    # Tokens carry the generation they were issued in; bumping it revokes
    # every token issued before (deactivation, password change).
    token_generation: int = 0
    pk: int | None = None

    def revoke_tokens(self) -> None:
        self.token_generation += 1


@dataclass(eq=False)
class Framework:
    name: str
    version: str
    pk: int | None = None


@dataclass(eq=False)
class DataDomain:
    name: str
    description: str
    pk: int | None = None


@dataclass(eq=False)
class Licence:
    name: str
    url: str = ""
    domains: list[str] = field(default_factory=list)
    permissions: list[str] = field(default_factory=list)
    limitations: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    pk: int | None = None


SUBDESCRIPTOR_TYPES = ("domains", "permissions", "limitations", "conditions")


def data_state_of(data_sha256: str | None, fetch_owner: str | None, source: str | None) -> str:
    """Where a model's file is: ``local``, ``fetching``, ``remote`` or ``none``."""
    if data_sha256 is not None:
        return "local"
    if fetch_owner is not None:
        return "fetching"
    return "remote" if source is not None else "none"


@dataclass(eq=False)
class PretrainedModel:
    name: str
    framework: Framework
    domain: DataDomain
    licence: Licence
    url: str
    description: str
    metadata: str = ""
    creator: User | None = None
    creation_time: datetime | None = None
    deletion_time: datetime | None = None
    data_sha256: str | None = None
    data_size: int | None = None
    data_time: datetime | None = None
    source: str | None = None
    source_sha256: str | None = None
    # The upstream transfer in progress: who runs it, its last sign of life,
    # the size upstream announced (-1: none); and why the last one failed
    # (its kind: ``error``, ``timeout`` or ``mismatch``), and when.
    fetch_owner: str | None = None
    fetch_heartbeat: datetime | None = None
    fetch_size: int | None = None
    fetch_error: str | None = None
    fetch_error_kind: str | None = None
    fetch_failed_at: datetime | None = None
    pk: int | None = None

    @property
    def is_deleted(self) -> bool:
        return self.deletion_time is not None

    @property
    def data_state(self) -> str:
        """``local`` (stored here), ``fetching``, ``remote`` (a source not
        fetched yet) or ``none``."""
        return data_state_of(self.data_sha256, self.fetch_owner, self.source)

    @property
    def data(self) -> bool:
        """Whether a file is attached or can be fetched (the API's ``data``)."""
        return self.data_state != "none"

    @property
    def blob(self) -> BlobRef | None:
        if self.data_sha256 is None or self.data_size is None:
            return None
        return BlobRef(self.data_sha256, self.data_size)

    def clear_fetch(self) -> None:
        """Forget the upstream transfer: a running one is abandoned, and a
        failure is not held against the next download."""
        self.fetch_owner = self.fetch_heartbeat = self.fetch_size = None
        self.fetch_error = self.fetch_error_kind = self.fetch_failed_at = None

    def attach(self, ref: BlobRef | None, when: datetime | None) -> None:
        """Point the model at other bytes (or at none)."""
        self.data_sha256 = ref.sha256 if ref else None
        self.data_size = ref.size if ref else None
        self.data_time = when if ref else None


@dataclass(eq=False)
class Upload:
    """A model file arriving in parts (the tus protocol), resumable.

    Its bytes so far are a staging file of the blob store named by ``id``;
    ``offset`` counts those recorded as received: bytes past it on disk are
    from a part that never finished, and are dropped by the next one.
    """

    id: str
    owner_pk: int
    model_pk: int
    length: int
    created: datetime
    expires: datetime
    offset: int = 0
    filename: str | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires <= now
