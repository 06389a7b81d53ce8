"""Migrating from a running server, against the in-memory fakes and a fake
source that shows records as the UFDL API does."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.memory import MemoryBlobStore, MemorySourceServer, MemoryUnitOfWork
from domain.errors import DomainError, PermissionDenied
from domain.model import Framework, Licence, PretrainedModel, User
from domain.permissions import SYSTEM
from domain.services.frameworks import Frameworks
from domain.services.licences import Licences
from domain.services.migration import Migration, StepResult
from domain.services.pretrained_models import PretrainedModels
from domain.services.seed import DOMAINS
from tests.unit.conftest import everything, stored_bytes

ALPHA, BETA, GAMMA = b"alpha weights " * 20, b"beta weights " * 30, b"gamma weights " * 10
CREATED = "2024-03-01T10:00:00.000000Z"
DELETED = "2024-04-01T12:30:00.000000Z"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def licence_record(pk: int, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "pk": pk,
        "name": name,
        "url": f"https://licences.example/{name.replace(' ', '-')}",
        "domains": [],
        "permissions": ["Commercial use"],
        "limitations": [],
        "conditions": ["License and copyright notice"],
        **fields,
    }


def model_record(
    pk: int, name: str, framework: dict[str, Any], file: bytes | None = None, **fields: Any
) -> dict[str, Any]:
    """A model as a modelhub server shows it."""
    data = file
    return {
        "pk": pk,
        "framework": framework,
        "domain": "Object Detection",
        "licence": "MIT",
        "data": data is not None,
        "creator": None,
        "creation_time": CREATED,
        "deletion_time": None,
        "url": f"https://models.example/{name}",
        "description": f"The {name} model",
        "name": name,
        "metadata": "epochs=10",
        "data_size": len(data) if data is not None else None,
        "data_sha256": sha(data) if data is not None else None,
        "source": None,
        "source_sha256": None,
        "data_state": "local" if data is not None else "none",
        **fields,
    }


TORCH = {"pk": 3, "name": "pytorch", "version": "2.4"}
KERAS = {"pk": 4, "name": "keras", "version": "3.0"}


@pytest.fixture
def source() -> MemorySourceServer:
    """Two licences (one only on the source), two frameworks, and four
    models: with a file, soft-deleted with a file, without a file, and
    remote (a source not fetched yet)."""
    return MemorySourceServer(
        licences=[
            licence_record(11, "MIT", permissions=["Commercial use", "Private use"]),
            licence_record(20, "Custom licence", domains=["ic"], limitations=["Liability"]),
        ],
        frameworks=[TORCH, KERAS],
        domains=[{"pk": n, "name": name, "description": d} for n, (name, d) in enumerate(DOMAINS)],
        models=[
            model_record(5, "alpha", TORCH, ALPHA, creator=1),
            model_record(
                7, "beta", KERAS, BETA, deletion_time=DELETED, licence="Custom licence", creator=2
            ),
            model_record(8, "empty", TORCH, domain="Image Classification"),
            model_record(
                9,
                "remote",
                KERAS,
                data=True,
                data_state="remote",
                source="https://upstream.example/remote.bin",
                source_sha256=sha(GAMMA),
            ),
        ],
        usernames={1: "admin", 2: "someone-not-here"},
        files={5: ALPHA, 7: BETA},
    )


@pytest.fixture
def migration(uow: MemoryUnitOfWork, models: PretrainedModels, store: MemoryBlobStore) -> Migration:
    return Migration(uow, models, Frameworks(uow), Licences(uow), store)


@pytest.fixture
def big_models(uow: MemoryUnitOfWork, store: MemoryBlobStore, clock: Any) -> PretrainedModels:
    return PretrainedModels(uow, store, clock)


def run(migration: Migration, uow: MemoryUnitOfWork, source: MemorySourceServer) -> list[Any]:
    """What ``modelhub migrate`` does: each step in a transaction of its own.
    Returns the results (and the errors of the steps that failed)."""
    plan = migration.plan(SYSTEM, source)
    outcomes: list[Any] = []
    for step in plan:
        try:
            result = migration.migrate(SYSTEM, plan, step)
        except DomainError as exc:
            uow.abort()
            outcomes.append((step.label, exc))
        else:
            uow.commit()
            if not result.deferred:
                outcomes.append(result)
    return outcomes


def by_label(outcomes: list[Any]) -> dict[str, Any]:
    return {(o.step.label if isinstance(o, StepResult) else o[0]): o for o in outcomes}


def model_named(uow: MemoryUnitOfWork, name: str) -> PretrainedModel:
    (model,) = [m for m in everything(uow.models) if m.name == name]
    return model


def test_a_first_run_copies_every_record_under_its_pk(
    migration: Migration,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
    source: MemorySourceServer,
    admin: User,
) -> None:
    outcomes = run(migration, uow, source)

    assert all(isinstance(o, StepResult) for o in outcomes), outcomes
    results = by_label(outcomes)
    assert results["licence 11 'MIT'"].outcome == "updated"  # the seeded one, matched by name
    assert results["licence 20 'Custom licence'"].outcome == "created"
    assert results["framework 3 'pytorch 2.4'"].outcome == "created"
    custom = uow.licences.get(20)
    assert custom is not None and custom.name == "Custom licence"
    assert (custom.domains, custom.limitations) == (["ic"], ["Liability"])
    mit = uow.licences.get_by_name("MIT")
    assert mit is not None and mit.permissions == ["Commercial use", "Private use"]
    assert [(f.pk, f.name, f.version) for f in everything(uow.frameworks)] == [
        (3, "pytorch", "2.4"),
        (4, "keras", "3.0"),
    ]

    alpha, beta = uow.models.get(5), uow.models.get(7)
    assert alpha is not None and beta is not None
    assert (alpha.name, alpha.framework.pk, alpha.domain.name, alpha.licence.name) == (
        "alpha",
        3,
        "od",
        "MIT",
    )
    assert (alpha.url, alpha.description, alpha.metadata) == (
        "https://models.example/alpha",
        "The alpha model",
        "epochs=10",
    )
    assert alpha.creation_time == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert alpha.creator is admin  # the source's user 1 is called admin here too
    assert alpha.data_sha256 == sha(ALPHA) and not alpha.is_deleted
    assert stored_bytes(store)[sha(ALPHA)] == ALPHA
    assert results["model 5 'alpha'"].file == "stored"

    # Soft-deleted on the source, which serves no file of it.
    assert beta.is_deleted and beta.deletion_time == datetime(2024, 4, 1, 12, 30, tzinfo=UTC)
    assert beta.licence.name == "Custom licence" and beta.creator is None
    assert beta.blob is None
    assert (results["model 7 'beta'"].file, results["model 7 'beta'"].failed) == (
        "not served",
        False,
    )

    empty = uow.models.get(8)
    assert empty is not None and empty.domain.name == "ic" and empty.blob is None
    assert results["model 8 'empty'"].file == "none"
    remote = uow.models.get(9)
    assert remote is not None and remote.data_state == "remote"
    assert (remote.source, remote.source_sha256) == (
        "https://upstream.example/remote.bin",
        sha(GAMMA),
    )
    assert results["model 9 'remote'"].file == "remote"
    assert not any(r.pk_differs for r in outcomes)
    assert source.opened == [5, 7]


def test_running_it_again_changes_nothing_and_fetches_nothing(
    migration: Migration, uow: MemoryUnitOfWork, source: MemorySourceServer, admin: User
) -> None:
    run(migration, uow, source)
    before = {m.pk: vars(m).copy() for m in everything(uow.models)}
    licences_before = [(x.pk, x.name, x.url, x.permissions) for x in everything(uow.licences)]
    source.opened.clear()

    again = run(migration, uow, source)

    assert {r.outcome for r in again} == {"unchanged"}
    assert {r.file for r in again if r.step.kind == "model"} == {
        "unchanged",
        "not served",
        "none",
        "remote",
    }
    assert {m.pk: vars(m) for m in everything(uow.models)} == before
    assert [(x.pk, x.name, x.url, x.permissions) for x in everything(uow.licences)] == (
        licences_before
    )
    assert source.opened == [7]  # only the deleted one's, which it still does not serve


def test_a_taken_pk_gives_a_fresh_one_after_every_pk_kept(
    migration: Migration,
    models: PretrainedModels,
    uow: MemoryUnitOfWork,
    source: MemorySourceServer,
    framework: Framework,
) -> None:
    # Model 5 here is another model: the source's model 5 waits, then takes
    # a pk after the source's highest (9), so no later record loses its pk.
    mine = models.create(
        SYSTEM,
        {
            "framework": framework.pk,
            "domain": "ic",
            "licence": "MIT",
            "url": "https://example.org/mine",
            "description": "",
            "name": "mine",
        },
        pk=5,
    )
    uow.commit()

    outcomes = run(migration, uow, source)

    labels = [o.step.label for o in outcomes if o.step.kind == "model"]
    assert labels == ["model 7 'beta'", "model 8 'empty'", "model 9 'remote'", "model 5 'alpha'"]
    alpha = by_label(outcomes)["model 5 'alpha'"]
    assert (alpha.outcome, alpha.pk, alpha.pk_differs) == ("created", 10, True)
    assert model_named(uow, "alpha").pk == 10 and model_named(uow, "alpha").data_sha256
    assert uow.models.get(5) is mine and mine.name == "mine"
    assert [uow.models.get(pk).name for pk in (7, 8, 9)] == ["beta", "empty", "remote"]  # type: ignore[union-attr]


def test_a_record_matched_by_its_key_keeps_its_pk_here_and_takes_the_source_fields(
    migration: Migration,
    models: PretrainedModels,
    uow: MemoryUnitOfWork,
    source: MemorySourceServer,
) -> None:
    torch = Framework("pytorch", "2.4", pk=30)
    uow.frameworks.add(torch)
    here = models.create(
        SYSTEM,
        {
            "framework": 30,
            "domain": "ic",
            "licence": "Apache-2.0",
            "url": "https://example.org/old",
            "description": "old words",
            "name": "alpha",
        },
        pk=40,
    )
    models.soft_delete(SYSTEM, 40)
    uow.commit()

    results = by_label(run(migration, uow, source))

    framework, alpha = results["framework 3 'pytorch 2.4'"], results["model 5 'alpha'"]
    assert (framework.outcome, framework.pk, framework.pk_differs) == ("unchanged", 30, True)
    assert (alpha.outcome, alpha.pk, alpha.file) == ("updated", 40, "stored")
    assert uow.models.get(5) is None
    assert here.is_deleted is False  # active on the source: reinstated
    assert (here.domain.name, here.licence.name, here.url, here.description) == (
        "od",
        "MIT",
        "https://models.example/alpha",
        "The alpha model",
    )
    assert here.creation_time != datetime(2024, 3, 1, 10, tzinfo=UTC)  # set once, on creation
    assert here.data_sha256 == sha(ALPHA)


def test_a_deleted_model_whose_fields_changed_is_updated_and_stays_deleted(
    migration: Migration, uow: MemoryUnitOfWork, source: MemorySourceServer
) -> None:
    run(migration, uow, source)
    source.records["models"][1]["description"] = "Beta, retired"

    results = by_label(run(migration, uow, source))

    assert results["model 7 'beta'"].outcome == "updated"
    beta = uow.models.get(7)
    assert beta is not None and beta.description == "Beta, retired" and beta.is_deleted
    assert beta.deletion_time == datetime(2024, 4, 1, 12, 30, tzinfo=UTC)


def test_a_file_the_source_cannot_deliver_is_reported_and_the_others_go_on(
    migration: Migration,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
    source: MemorySourceServer,
) -> None:
    source.records["models"].append(model_record(10, "lost", TORCH, GAMMA))  # no file served
    source.records["models"].append(model_record(11, "cut", TORCH, BETA))
    source.files[11] = BETA
    source.broken.add(11)
    source.records["models"].append(model_record(12, "liar", TORCH, GAMMA))
    source.files[12] = ALPHA  # not the bytes it claims

    results = by_label(run(migration, uow, source))

    for label in ("model 10 'lost'", "model 11 'cut'", "model 12 'liar'"):
        assert results[label].failed and results[label].outcome == "created", label
    assert "404" in results["model 10 'lost'"].file_error.detail
    assert "broke off" in results["model 11 'cut'"].file_error.detail
    assert "sha256" in results["model 12 'liar'"].file_error.fields
    for pk in (10, 11, 12):
        assert uow.models.get(pk).blob is None  # type: ignore[union-attr]
    assert set(stored_bytes(store)) == {sha(ALPHA)}  # alpha's, nothing of the others
    assert results["model 5 'alpha'"].file == "stored"


def test_a_source_without_digests_has_its_files_fetched_and_compared(
    migration: Migration, uow: MemoryUnitOfWork, source: MemorySourceServer
) -> None:
    # A UFDL server shows neither data_state nor data_sha256.
    for record in source.records["models"]:
        for name in ("data_state", "data_sha256", "data_size", "source", "source_sha256"):
            record.pop(name)
    source.records["models"][3]["data"] = False
    run(migration, uow, source)
    assert uow.models.get(5).data_sha256 == sha(ALPHA)  # type: ignore[union-attr]
    source.opened.clear()

    again = by_label(run(migration, uow, source))

    assert source.opened == [5, 7]  # fetched again, as nothing tells they are the same
    assert (again["model 5 'alpha'"].outcome, again["model 5 'alpha'"].file) == (
        "unchanged",
        "unchanged",
    )


def test_the_creator_follows_the_name_and_stays_when_the_source_hides_it(
    migration: Migration, uow: MemoryUnitOfWork, source: MemorySourceServer, admin: User
) -> None:
    run(migration, uow, source)
    assert uow.models.get(5).creator is admin  # type: ignore[union-attr]
    source.usernames.clear()  # a login that may not read the users

    results = by_label(run(migration, uow, source))

    assert results["model 5 'alpha'"].outcome == "unchanged"
    assert uow.models.get(5).creator is admin  # type: ignore[union-attr]


def test_a_record_that_breaks_a_rule_fails_alone(
    migration: Migration, uow: MemoryUnitOfWork, source: MemorySourceServer
) -> None:
    source.records["models"][0]["licence"] = "No such licence"
    source.records["models"][2]["framework"] = {"pk": 99, "name": "jax", "version": "0.4"}

    outcomes = by_label(run(migration, uow, source))

    _, error = outcomes["model 5 'alpha'"]
    assert error.fields == {"licence": ["Object with name=No such licence does not exist."]}
    _, error = outcomes["model 8 'empty'"]
    assert list(error.fields) == ["framework"]
    assert uow.models.get(5) is None and uow.models.get(8) is None
    assert uow.models.get(9) is not None


def test_a_bad_subdescriptor_list_names_its_kind(
    migration: Migration, uow: MemoryUnitOfWork, source: MemorySourceServer
) -> None:
    source.records["licences"][1]["conditions"] = ["fine", ""]
    _, error = by_label(run(migration, uow, source))["licence 20 'Custom licence'"]
    assert error.fields == {"conditions": ["Expected a list of non-empty strings."]}
    assert uow.licences.get(20) is None


def test_only_an_admin_migrates(
    migration: Migration, source: MemorySourceServer, user: User
) -> None:
    with pytest.raises(PermissionDenied):
        migration.plan(user, source)


def test_a_file_too_large_here_is_reported(
    uow: MemoryUnitOfWork, store: MemoryBlobStore, source: MemorySourceServer, clock: Any
) -> None:
    tiny = PretrainedModels(uow, store, clock, max_file_size=len(ALPHA) - 1)
    migration = Migration(uow, tiny, Frameworks(uow), Licences(uow), store)
    result = by_label(run(migration, uow, source))["model 5 'alpha'"]
    assert result.failed and "larger than the limit" in result.file_error.detail


def test_licences_added_with_their_pk_come_before_fresh_ones(
    migration: Migration, uow: MemoryUnitOfWork, source: MemorySourceServer
) -> None:
    uow.licences.add(Licence("Taken", pk=20))
    uow.commit()
    result = by_label(run(migration, uow, source))["licence 20 'Custom licence'"]
    assert (result.outcome, result.pk_differs) == ("created", True)
    assert result.pk is not None and result.pk > 20
