"""verify, gc and purge, against the in-memory fakes."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from datetime import timedelta

import pytest

from adapters.memory import MemoryBlobStore, MemoryProxyBodies, MemoryUnitOfWork
from domain.errors import NotFound
from domain.filters import FilterSpec
from domain.model import PretrainedModel, User
from domain.permissions import SYSTEM
from domain.services.maintenance import PROXY_BODY_MAX_AGE, Maintenance
from domain.services.pretrained_models import PretrainedModels
from domain.services.uploads import Uploads
from tests.unit.conftest import FakeClock

GRACE = timedelta(hours=1)


@pytest.fixture
def store(clock: FakeClock) -> MemoryBlobStore:
    """A store that dates its files by the fake clock."""
    return MemoryBlobStore(clock=clock)


@pytest.fixture
def maintenance(
    uow: MemoryUnitOfWork, store: MemoryBlobStore, clock: FakeClock, models: PretrainedModels
) -> Maintenance:
    return Maintenance(uow, store, clock, models)


AddModel = Callable[[str, bytes], PretrainedModel]


@pytest.fixture
def add_model(models: PretrainedModels, admin: User, model_data: dict) -> AddModel:
    """Create a model named ``name`` holding ``data`` (the caller commits)."""

    def add(name: str, data: bytes) -> PretrainedModel:
        created = models.create(admin, {**model_data, "name": name})
        models.set_file(admin, created.pk, io.BytesIO(data))
        return created

    return add


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def temporaries(store: MemoryBlobStore) -> list[str]:
    return [t.name for t in store.temporaries()]


def test_verify_passes_a_consistent_store(
    maintenance: Maintenance, model_with_file: PretrainedModel
) -> None:
    seen: list[int] = []
    report = maintenance.verify(SYSTEM, progress=seen.append)
    assert report.checked == 1 and report.problems == []
    assert sum(seen) == len(b"weights") == maintenance.verify_total(SYSTEM)


def test_verify_reports_corrupt_missing_and_unreferenced_files(
    maintenance: Maintenance,
    add_model: AddModel,
    model_with_file: PretrainedModel,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
) -> None:
    other = add_model("other", b"other weights")
    uow.commit()
    # Bytes flipped on disk behind the store's back: no port writes over a
    # blob, so the fake's dict is changed directly.
    store.blobs[sha(b"weights")] = b"weightz"
    store.delete(other.blob)
    store.commit(store.stage(io.BytesIO(b"stray")))
    report = maintenance.verify(SYSTEM)
    assert report.checked == 2
    assert report.missing == [sha(b"other weights")]
    assert len(report.corrupt) == 1 and report.corrupt[0].startswith(sha(b"weights"))
    assert report.unreferenced == [f"{sha(b'stray')} (5 bytes)"]
    assert report.miscounted == []
    uow.blobs.set_count(model_with_file.blob, 2)
    assert maintenance.verify(SYSTEM).miscounted == [
        f"{sha(b'weights')} is counted 2 times but used by 1 models"
    ]


def test_gc_removes_old_orphans_and_stale_temporaries_only(
    maintenance: Maintenance,
    model_with_file: PretrainedModel,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
    clock: FakeClock,
) -> None:
    old_orphan = store.commit(store.stage(io.BytesIO(b"old orphan")))
    stale = store.stage(io.BytesIO(b"abandoned upload"))
    clock.advance(hours=2)
    young_orphan = store.commit(store.stage(io.BytesIO(b"young orphan")))
    in_flight = store.stage(io.BytesIO(b"upload in progress"))

    dry = maintenance.collect_garbage(SYSTEM, GRACE, dry_run=True)
    assert dry.blobs == [old_orphan] and [t.name for t in dry.temporaries] == [str(stale.handle)]
    assert dry.reclaimable_bytes == len(b"old orphan") + len(b"abandoned upload")
    assert store.exists(old_orphan) and str(stale.handle) in temporaries(store)
    uow.commit()  # a dry run changes nothing, even once committed
    assert dry.removed == [] and store.exists(old_orphan)
    assert uow.blobs.all() == {model_with_file.data_sha256: 1}

    report = maintenance.collect_garbage(SYSTEM, GRACE)
    assert report.removed == [] and store.exists(old_orphan)  # not before commit
    uow.commit()
    assert report.removed == [old_orphan]
    assert report.freed_bytes == report.reclaimable_bytes == dry.reclaimable_bytes
    assert not store.exists(old_orphan)
    assert store.exists(young_orphan) and store.exists(model_with_file.blob)
    assert temporaries(store) == [str(in_flight.handle)]
    assert uow.blobs.all() == {model_with_file.data_sha256: 1}


def test_gc_spares_an_orphan_that_an_upload_counts_before_the_commit(
    maintenance: Maintenance,
    models: PretrainedModels,
    admin: User,
    model: PretrainedModel,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
    clock: FakeClock,
) -> None:
    orphan = store.commit(store.stage(io.BytesIO(b"weights")))
    clock.advance(hours=2)
    report = maintenance.collect_garbage(SYSTEM, GRACE)
    assert report.blobs == [orphan]  # due for removal when the collection commits
    # The same bytes are uploaded before the collection commits: the
    # re-check under the row finds them counted and keeps the file.
    models.set_file(admin, model.pk, io.BytesIO(b"weights"))
    uow.commit()
    assert report.removed == [] and store.exists(orphan)
    assert uow.blobs.all() == {orphan.sha256: 1}


def test_purge_hard_deletes_only_models_deleted_before_the_date(
    maintenance: Maintenance,
    models: PretrainedModels,
    add_model: AddModel,
    admin: User,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
    clock: FakeClock,
) -> None:
    early, shared, late, active = (
        add_model("early", b"early"),
        add_model("shared", b"both"),
        add_model("late", b"late"),
        add_model("active", b"both"),
    )
    models.soft_delete(admin, early.pk)
    models.soft_delete(admin, shared.pk)
    cutoff = clock.advance(days=1)
    models.soft_delete(admin, late.pk)
    uow.commit()

    listed = maintenance.purge(SYSTEM, cutoff, dry_run=True)
    assert [p.name for p in listed] == ["early", "shared"]
    assert uow.models.get(early.pk) is not None

    purged = maintenance.purge(SYSTEM, cutoff)
    assert [p.pk for p in purged] == [early.pk, shared.pk]
    assert store.exists(early.blob)  # released only after commit
    uow.commit()
    remaining = uow.models.list(FilterSpec(include_inactive=True))
    assert sorted(m.name for m in remaining) == ["active", "late"]
    assert not store.exists(early.blob)
    assert store.exists(active.blob) and store.exists(late.blob)
    assert uow.blobs.all() == {sha(b"both"): 1, sha(b"late"): 1}


def test_repair_sets_counts_to_the_models_holding_the_bytes(
    maintenance: Maintenance,
    add_model: AddModel,
    model_with_file: PretrainedModel,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
) -> None:
    """A registry damaged by lost updates: counts too high, too low, and a
    blob counted once that no model uses (an upload that lost a race)."""
    add_model("other", b"weights")
    uow.commit()
    uow.blobs.set_count(model_with_file.blob, 1)  # a release counted twice
    lost = store.commit(store.stage(io.BytesIO(b"lost race")))
    uow.blobs.acquire(lost)  # an upload whose model took other bytes
    assert len(maintenance.verify(SYSTEM).miscounted) == 2

    repaired = maintenance.repair_counts(SYSTEM)
    assert sorted(repaired) == sorted(
        [
            f"{sha(b'weights')} is counted 1 times but used by 2 models",
            f"{sha(b'lost race')} is counted 1 times but used by 0 models",
        ]
    )
    uow.commit()  # collects what nothing references any more
    assert not store.exists(lost) and lost.sha256 not in uow.blobs.all()
    assert maintenance.verify(SYSTEM).problems == []
    assert maintenance.repair_counts(SYSTEM) == []


def test_verify_notes_staging_files(
    maintenance: Maintenance,
    model_with_file: PretrainedModel,
    store: MemoryBlobStore,
    clock: FakeClock,
) -> None:
    staged = store.stage(io.BytesIO(b"half an upload"))
    written = clock.now()
    clock.advance(minutes=5)
    report = maintenance.verify(SYSTEM)
    assert report.problems == []
    assert report.temporaries == [f"{staged.handle} (14 bytes, modified {written.isoformat()})"]
    assert report.notes == [f"temporary file: {report.temporaries[0]}"]


def test_gc_removes_expired_uploads_and_spares_live_ones_however_old(
    maintenance: Maintenance,
    uploads: Uploads,
    admin: User,
    model: PretrainedModel,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
    clock: FakeClock,
) -> None:
    live = uploads.create(admin, model.pk, 100)
    expiring = uploads.create(admin, model.pk, 100)
    uow.commit()
    clock.advance(hours=20)
    uploads.append(admin, live.id, 0, io.BytesIO(b"x" * 60))  # moves its expiry
    store.begin_staging("f" * 32)  # a staging file whose upload record is gone
    clock.advance(hours=5)

    dry = maintenance.collect_garbage(SYSTEM, GRACE, dry_run=True)
    assert [t.staged_as for t in dry.uploads] == [expiring.id]
    assert [t.staged_as for t in dry.temporaries] == ["f" * 32]
    uow.commit()
    assert {u.id for u in uow.uploads.all()} == {live.id, expiring.id}

    report = maintenance.collect_garbage(SYSTEM, GRACE)
    assert expiring.id in store.parts  # its bytes go once the deletion commits
    uow.commit()

    assert [t.staged_as for t in report.uploads] == [expiring.id]
    assert [u.id for u in uow.uploads.all()] == [live.id]
    assert set(store.parts) == {live.id}
    assert uploads.status(admin, live.id).offset == 60
    with pytest.raises(NotFound):
        uploads.status(admin, expiring.id)


@pytest.fixture
def proxy_bodies(clock: FakeClock) -> MemoryProxyBodies:
    """The folder a proxy in front writes upload bodies to, dated by the fake clock."""
    return MemoryProxyBodies(clock)


def behind_a_proxy(
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
    clock: FakeClock,
    models: PretrainedModels,
    bodies: MemoryProxyBodies,
    max_age: timedelta = PROXY_BODY_MAX_AGE,
) -> Maintenance:
    return Maintenance(uow, store, clock, models, bodies, max_age)


def test_gc_removes_the_body_files_a_proxy_left_once_untouched_for_a_day(
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
    clock: FakeClock,
    models: PretrainedModels,
    proxy_bodies: MemoryProxyBodies,
) -> None:
    maintenance = behind_a_proxy(uow, store, clock, models, proxy_bodies)
    proxy_bodies.write("0000000001", b"left by a crash")
    proxy_bodies.write("0000000002", b"a slow upload, ")
    clock.advance(hours=23)
    proxy_bodies.write("0000000002", b"still arriving")  # its last write counts
    proxy_bodies.write("0000000003", b"just begun")
    clock.advance(hours=2)

    dry = maintenance.collect_garbage(SYSTEM, GRACE, dry_run=True)
    assert [body.name for body in dry.proxy_bodies] == ["0000000001"]
    assert dry.reclaimable_bytes == len(b"left by a crash")
    assert sorted(proxy_bodies.bodies) == ["0000000001", "0000000002", "0000000003"]

    report = maintenance.collect_garbage(SYSTEM, GRACE)
    assert [body.name for body in report.proxy_bodies] == ["0000000001"]
    assert report.freed_bytes == len(b"left by a crash")
    assert sorted(proxy_bodies.bodies) == ["0000000002", "0000000003"]

    clock.advance(days=1)
    again = maintenance.collect_garbage(SYSTEM, GRACE)
    assert [body.name for body in again.proxy_bodies] == ["0000000002", "0000000003"]
    assert proxy_bodies.bodies == {}


def test_gc_spares_a_proxy_s_body_file_within_the_grace_period_too(
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
    clock: FakeClock,
    models: PretrainedModels,
    proxy_bodies: MemoryProxyBodies,
) -> None:
    """The longer of the grace period and the files' age limit applies."""
    maintenance = behind_a_proxy(uow, store, clock, models, proxy_bodies, timedelta(minutes=5))
    proxy_bodies.write("0000000001", b"body")
    clock.advance(minutes=30)
    assert maintenance.collect_garbage(SYSTEM, GRACE).proxy_bodies == []
    shorter = maintenance.collect_garbage(SYSTEM, timedelta(minutes=10))
    assert [body.name for body in shorter.proxy_bodies] == ["0000000001"]
    assert proxy_bodies.bodies == {}
