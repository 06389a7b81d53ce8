"""Importing and exporting manifests, against the in-memory fakes."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from adapters.memory import MemoryBlobStore, MemoryFetcher, MemorySink, MemoryUnitOfWork
from domain.errors import Invalid, SourceUnavailable
from domain.model import PretrainedModel, User
from domain.permissions import SYSTEM
from domain.services.frameworks import Frameworks
from domain.services.mirror import Mirror
from domain.services.pretrained_models import PretrainedModels
from domain.services.seed import seed
from tests.unit.conftest import FakeClock, everything, stored_bytes

WEIGHTS = b"resnet weights " * 10
WEIGHTS_SHA = hashlib.sha256(WEIGHTS).hexdigest()


def entry(**fields: Any) -> dict[str, Any]:
    return {
        "name": "resnet50",
        "framework": {"name": "pytorch", "version": "2.4"},
        "domain": "ic",
        "licence": "MIT",
        "url": "https://example.org/resnet50",
        "description": "ResNet-50",
        "metadata": "top-1 76%",
        "source": None,
        "source_sha256": None,
        "file": "https://files.example/resnet50.pth",
        "sha256": WEIGHTS_SHA,
        **fields,
    }


def without(fields: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in names}


def described(model: PretrainedModel) -> tuple[Any, ...]:
    """What a manifest carries of a model, and whether it is deleted."""
    return (
        model.name,
        (model.framework.name, model.framework.version),
        model.domain.name,
        model.licence.name,
        model.url,
        model.description,
        model.metadata,
        model.blob,
        model.is_deleted,
    )


@pytest.fixture
def fetcher() -> MemoryFetcher:
    return MemoryFetcher({"https://files.example/resnet50.pth": WEIGHTS})


@pytest.fixture
def mirror(
    uow: MemoryUnitOfWork,
    models: PretrainedModels,
    frameworks: Frameworks,
    store: MemoryBlobStore,
    fetcher: MemoryFetcher,
) -> Mirror:
    return Mirror(uow, models, frameworks, store, fetcher)


def test_import_creates_the_framework_the_model_and_its_file(
    mirror: Mirror, uow: MemoryUnitOfWork, store: MemoryBlobStore
) -> None:
    result = mirror.import_entry(SYSTEM, entry())
    assert (result.model, result.file) == ("created", "stored")
    (model,) = everything(uow.models)
    assert (model.framework.name, model.framework.version) == ("pytorch", "2.4")
    assert (model.domain.name, model.licence.name, model.metadata) == ("ic", "MIT", "top-1 76%")
    assert model.data_sha256 == WEIGHTS_SHA
    assert stored_bytes(store) == {WEIGHTS_SHA: WEIGHTS}
    assert uow.blobs.all().get(WEIGHTS_SHA, 0) == 1


def test_reimporting_changes_nothing_and_downloads_nothing(
    mirror: Mirror, uow: MemoryUnitOfWork, fetcher: MemoryFetcher
) -> None:
    mirror.import_entry(SYSTEM, entry())
    uow.commit()
    again = mirror.import_entry(SYSTEM, entry())
    assert (again.model, again.file, again.changed) == ("unchanged", "unchanged", False)
    assert fetcher.opened == ["https://files.example/resnet50.pth"]  # only the first time
    assert len(everything(uow.models)) == 1 and len(everything(uow.frameworks)) == 1
    assert uow.blobs.all().get(WEIGHTS_SHA, 0) == 1


def test_without_a_digest_the_same_bytes_leave_the_model_unchanged(
    mirror: Mirror, uow: MemoryUnitOfWork, clock: FakeClock
) -> None:
    first = mirror.import_entry(SYSTEM, entry(sha256=None))
    uow.commit()
    data_time = uow.models.get(first.pk).data_time
    clock.advance(minutes=5)
    again = mirror.import_entry(SYSTEM, entry(sha256=None))
    assert (again.model, again.file) == ("unchanged", "unchanged")
    assert uow.models.get(first.pk).data_time == data_time
    assert uow.blobs.all().get(WEIGHTS_SHA, 0) == 1


def test_a_changed_field_updates_the_model_found_by_name_and_framework(
    mirror: Mirror, uow: MemoryUnitOfWork
) -> None:
    first = mirror.import_entry(SYSTEM, entry())
    result = mirror.import_entry(SYSTEM, entry(description="ResNet-50, retrained"))
    assert (result.model, result.pk) == ("updated", first.pk)
    assert uow.models.get(first.pk).description == "ResNet-50, retrained"
    other = mirror.import_entry(SYSTEM, entry(framework={"name": "pytorch", "version": "2.5"}))
    assert other.model == "created" and other.pk != first.pk


def test_a_digest_mismatch_stores_no_bytes(
    mirror: Mirror, uow: MemoryUnitOfWork, store: MemoryBlobStore
) -> None:
    with pytest.raises(Invalid) as caught:
        mirror.import_entry(SYSTEM, entry(sha256="0" * 64))
    assert "sha256" in caught.value.fields
    assert WEIGHTS_SHA in caught.value.fields["sha256"][0]
    assert stored_bytes(store) == {} and list(store.temporaries()) == []
    assert uow.blobs.all() == {}


def test_an_unreadable_source_is_reported(mirror: Mirror) -> None:
    with pytest.raises(SourceUnavailable, match=r"missing\.pth"):
        mirror.import_entry(SYSTEM, entry(file="https://files.example/missing.pth"))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"domain": "nope"}, "domain"),
        ({"url": "not a url"}, "url"),
        ({"name": ""}, "name"),
        ({"licence": "Nope-1.0"}, "licence"),
    ],
)
def test_a_broken_rule_fails_with_the_api_message(
    mirror: Mirror,
    models: PretrainedModels,
    admin: User,
    fields: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(Invalid) as from_manifest:
        mirror.import_entry(SYSTEM, entry(**fields))
    framework = mirror.frameworks.get_or_create(admin, "pytorch", "2.4")
    body = {**entry(**fields), "framework": framework.pk}
    with pytest.raises(Invalid) as from_api:
        models.create(admin, body)
    assert from_manifest.value.fields == from_api.value.fields
    assert list(from_manifest.value.fields) == [field]


def test_bad_manifest_shapes_are_reported_per_field(mirror: Mirror) -> None:
    with pytest.raises(Invalid) as caught:
        mirror.import_entry(SYSTEM, entry(framework={"name": "", "version": "1"}))
    assert caught.value.fields == {"framework.name": ["This field may not be blank."]}
    with pytest.raises(Invalid) as caught:
        mirror.import_entry(SYSTEM, entry(sha256="abc"))
    assert list(caught.value.fields) == ["sha256"]
    with pytest.raises(Invalid, match="JSON object"):
        mirror.import_entry(SYSTEM, ["not", "an", "object"])


def test_a_dry_run_fetches_nothing_and_changes_nothing(
    mirror: Mirror, fetcher: MemoryFetcher, uow: MemoryUnitOfWork
) -> None:
    frameworks = everything(uow.frameworks)
    result = mirror.import_entry(SYSTEM, entry(), dry_run=True)
    assert (result.model, result.file) == ("created", "skipped")
    assert fetcher.opened == []
    assert everything(uow.models) == []
    assert everything(uow.frameworks) == frameworks  # the new framework is gone too

    mirror.import_entry(SYSTEM, entry(file=None, sha256=None))
    uow.commit()
    (model,) = everything(uow.models)
    result = mirror.import_entry(SYSTEM, entry(description="changed"), dry_run=True)
    assert result.model == "updated"
    assert uow.models.get(model.pk).description == "ResNet-50"  # type: ignore[union-attr]


def test_export_is_a_manifest_that_import_accepts(
    mirror: Mirror, uow: MemoryUnitOfWork, clock: FakeClock
) -> None:
    mirror.import_entry(SYSTEM, entry())
    mirror.import_entry(SYSTEM, entry(name="no-file", file=None, sha256=None))
    gone = mirror.import_entry(SYSTEM, entry(name="deleted", file=None, sha256=None))
    mirror.models.soft_delete(SYSTEM, gone.pk)
    sink = MemorySink()
    manifest = mirror.export(SYSTEM, sink)
    no_file = without(entry(name="no-file"), "file", "sha256")
    assert manifest == [entry(file=f"memory:{WEIGHTS_SHA}.data"), no_file]
    assert sink.files == {f"{WEIGHTS_SHA}.data": WEIGHTS}
    # Without a sink, the same entries name no file.
    assert mirror.export(SYSTEM) == [without(entry(), "file"), no_file]

    # Into an empty registry, the files fetched from where the export put them.
    other_uow = MemoryUnitOfWork()
    seed(other_uow)
    other_uow.commit()
    other_store = MemoryBlobStore()
    fetcher = MemoryFetcher({f"memory:{name}": data for name, data in sink.files.items()})
    other_models = PretrainedModels(other_uow, other_store, clock)
    other = Mirror(other_uow, other_models, Frameworks(other_uow), other_store, fetcher)
    for item in manifest:
        assert other.import_entry(SYSTEM, item).model == "created"
    assert [described(m) for m in everything(other_uow.models)] == [
        described(m) for m in mirror.models.list(SYSTEM)
    ]
    assert stored_bytes(other_store) == {WEIGHTS_SHA: WEIGHTS}
