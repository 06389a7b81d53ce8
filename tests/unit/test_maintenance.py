"""verify, gc and purge, against the in-memory fakes."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest

from adapters.memory import MemoryBlobStore, MemoryUnitOfWork
from domain.model import PretrainedModel, User
from domain.permissions import SYSTEM
from domain.services.maintenance import Maintenance
from domain.services.pretrained_models import PretrainedModels
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


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_verify_passes_a_consistent_store(
    maintenance: Maintenance, model_with_file: PretrainedModel
) -> None:
    seen: list[int] = []
    report = maintenance.verify(SYSTEM, progress=seen.append)
    assert report.checked == 1 and report.problems == []
    assert sum(seen) == len(b"weights") == maintenance.verify_total(SYSTEM)


def test_verify_reports_corrupt_missing_and_unreferenced_files(
    maintenance: Maintenance,
    models: PretrainedModels,
    admin: User,
    model_with_file: PretrainedModel,
    model_data: dict,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
) -> None:
    other = models.create(admin, {**model_data, "name": "other"})
    models.set_file(admin, other.pk, io.BytesIO(b"other weights"))
    uow.commit()
    store.blobs[sha(b"weights")] = b"weightz"  # flipped on disk
    del store.blobs[sha(b"other weights")]
    store.blobs[sha(b"stray")] = b"stray"
    report = maintenance.verify(SYSTEM)
    assert report.checked == 2
    assert report.missing == [sha(b"other weights")]
    assert len(report.corrupt) == 1 and report.corrupt[0].startswith(sha(b"weights"))
    assert report.unreferenced == [f"{sha(b'stray')} (5 bytes)"]
    assert report.miscounted == []
    uow.blobs.counts[sha(b"weights")] = 2
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
    assert store.exists(old_orphan) and stale.handle in store.staged

    report = maintenance.collect_garbage(SYSTEM, GRACE)
    assert report.removed == []  # not before commit
    uow.commit()
    assert report.removed == [old_orphan]
    assert report.freed_bytes == len(b"old orphan") + len(b"abandoned upload")
    assert not store.exists(old_orphan)
    assert store.exists(young_orphan) and store.exists(model_with_file.blob)
    assert stale.handle not in store.staged and in_flight.handle in store.staged
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
    maintenance.collect_garbage(SYSTEM, GRACE)
    # The same bytes are uploaded before the collection commits: the
    # re-check under the row finds them counted and keeps the file.
    models.set_file(admin, model.pk, io.BytesIO(b"weights"))
    uow.commit()
    assert store.exists(orphan)
    assert uow.blobs.all() == {orphan.sha256: 1}


def test_purge_hard_deletes_only_models_deleted_before_the_date(
    maintenance: Maintenance,
    models: PretrainedModels,
    admin: User,
    model_data: dict,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
    clock: FakeClock,
) -> None:
    def make(name: str, data: bytes) -> PretrainedModel:
        created = models.create(admin, {**model_data, "name": name})
        models.set_file(admin, created.pk, io.BytesIO(data))
        return created

    early, shared, late, active = (
        make("early", b"early"),
        make("shared", b"both"),
        make("late", b"late"),
        make("active", b"both"),
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
    assert sorted(m.name for m in uow.models.entities.values()) == ["active", "late"]
    assert not store.exists(early.blob)
    assert store.exists(active.blob) and store.exists(late.blob)
    assert uow.blobs.all() == {sha(b"both"): 1, sha(b"late"): 1}


def test_repair_sets_counts_to_the_models_holding_the_bytes(
    maintenance: Maintenance,
    models: PretrainedModels,
    admin: User,
    model_with_file: PretrainedModel,
    model_data: dict,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
) -> None:
    """A registry damaged by lost updates: counts too high, too low, and a
    blob counted once that no model uses (an upload that lost a race)."""
    other = models.create(admin, {**model_data, "name": "other"})
    models.set_file(admin, other.pk, io.BytesIO(b"weights"))
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
    assert sha(b"lost race") not in store.blobs
    assert maintenance.verify(SYSTEM).problems == []
    assert maintenance.repair_counts(SYSTEM) == []


def test_verify_notes_staging_files(
    maintenance: Maintenance, model_with_file: PretrainedModel, store: MemoryBlobStore
) -> None:
    staged = store.stage(io.BytesIO(b"half an upload"))
    report = maintenance.verify(SYSTEM)
    assert report.problems == []
    assert report.temporaries == [
        f"{staged.handle} (14 bytes, modified {store.modified[staged.handle].isoformat()})"
    ]
    assert report.notes == [f"temporary file: {report.temporaries[0]}"]
