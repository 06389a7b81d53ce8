"""Pretrained models: the rules 1-8 of API.md, permissions and validation."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.memory import MemoryBlobStore, MemoryUnitOfWork
from domain.errors import (
    Conflict,
    Gone,
    Invalid,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooLarge,
    UnsupportedFileType,
)
from domain.model import BlobRef, Framework, PretrainedModel, User
from domain.permissions import SYSTEM
from domain.services.pretrained_models import PretrainedModels
from domain.validation import BAD_URL, BLANK, NOT_INT, NOT_NULL, NOT_TEXT, REQUIRED, too_long
from tests.unit.conftest import MAX_FILE_SIZE, START, FakeClock, everything, stored_bytes

WEIGHTS = b"weights"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ref(data: bytes) -> BlobRef:
    return BlobRef(sha(data), len(data))


def state(uow: MemoryUnitOfWork, store: MemoryBlobStore) -> Any:
    """Everything an action could change, for 'nothing happened' checks,
    read through the ports. Take it after ``uow.commit()``, so that what the
    action left to do after commit has been done too."""
    return (
        {
            m.pk: (
                m.name,
                m.description,
                m.url,
                m.metadata,
                m.framework.pk,
                m.domain.name,
                m.licence.name,
                m.creation_time,
                m.deletion_time,
                m.data_sha256,
                m.data_size,
            )
            for m in everything(uow.models)
        },
        stored_bytes(store),
        list(store.temporaries()),
        dict(uow.blobs.all()),
    )


def invalid_fields(action: Callable[[], Any]) -> dict[str, list[str]]:
    with pytest.raises(Invalid) as caught:
        action()
    return caught.value.fields


@pytest.fixture
def other(
    models: PretrainedModels, admin: User, model_data: dict[str, Any], uow: MemoryUnitOfWork
) -> PretrainedModel:
    """A second active model without a file, committed."""
    created = models.create(admin, {**model_data, "name": "other"})
    uow.commit()
    return created


# -- permissions -----------------------------------------------------------------

Action = Callable[[PretrainedModels, Any, int, dict[str, Any]], Any]

AUTHENTICATED_ACTIONS: dict[str, Action] = {
    "list": lambda s, actor, pk, data: s.list(actor),
    "retrieve": lambda s, actor, pk, data: s.retrieve(actor, pk),
    "download": lambda s, actor, pk, data: s.download(actor, pk),
}
ADMIN_ACTIONS: dict[str, Action] = {
    "create": lambda s, actor, pk, data: s.create(actor, data),
    "update": lambda s, actor, pk, data: s.update(actor, pk, {**data, "name": "put"}),
    "partial_update": lambda s, actor, pk, data: s.update(actor, pk, {"name": "x"}, partial=True),
    "soft_delete": lambda s, actor, pk, data: s.soft_delete(actor, pk),
    "reinstate": lambda s, actor, pk, data: s.reinstate(actor, pk),
    "hard_delete": lambda s, actor, pk, data: s.hard_delete(actor, pk),
    "set_file": lambda s, actor, pk, data: s.set_file(actor, pk, io.BytesIO(b"new bytes")),
    "delete_file": lambda s, actor, pk, data: s.delete_file(actor, pk),
}
ALL_ACTIONS = {**AUTHENTICATED_ACTIONS, **ADMIN_ACTIONS}


@pytest.mark.parametrize("action", ALL_ACTIONS)
@pytest.mark.parametrize("who", ["anonymous", "inactive"])
def test_unauthenticated_actors_are_refused_and_change_nothing(
    request: pytest.FixtureRequest,
    who: str,
    action: str,
    models: PretrainedModels,
    model_with_file: PretrainedModel,
    model_data: dict[str, Any],
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    actor = request.getfixturevalue(who)
    before = state(uow, store)
    with pytest.raises(NotAuthenticated):
        ALL_ACTIONS[action](models, actor, model_with_file.pk, model_data)
    uow.commit()
    assert state(uow, store) == before


@pytest.mark.parametrize("action", ADMIN_ACTIONS)
def test_normal_user_is_denied_admin_actions_and_changes_nothing(
    action: str,
    user: User,
    models: PretrainedModels,
    model_with_file: PretrainedModel,
    model_data: dict[str, Any],
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    before = state(uow, store)
    with pytest.raises(PermissionDenied):
        ADMIN_ACTIONS[action](models, user, model_with_file.pk, model_data)
    uow.commit()
    assert state(uow, store) == before


@pytest.mark.parametrize("who", ["user", "admin"])
@pytest.mark.parametrize("action", AUTHENTICATED_ACTIONS)
def test_authenticated_actions_are_open_to_every_active_user(
    request: pytest.FixtureRequest,
    who: str,
    action: str,
    models: PretrainedModels,
    model_with_file: PretrainedModel,
    model_data: dict[str, Any],
) -> None:
    actor = request.getfixturevalue(who)
    result = AUTHENTICATED_ACTIONS[action](models, actor, model_with_file.pk, model_data)
    subject = {"list": lambda r: r[0], "retrieve": lambda r: r, "download": lambda r: r.model}
    assert subject[action](result).pk == model_with_file.pk


@pytest.mark.parametrize("action", ADMIN_ACTIONS)
def test_admin_may_do_every_admin_action(
    action: str,
    admin: User,
    models: PretrainedModels,
    model_with_file: PretrainedModel,
    model_data: dict[str, Any],
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    before = state(uow, store)
    ADMIN_ACTIONS[action](models, admin, model_with_file.pk, model_data)
    uow.commit()
    if action == "reinstate":  # reinstating an active model changes nothing
        assert state(uow, store) == before
    else:
        assert state(uow, store) != before


@pytest.mark.parametrize("action", [a for a in ALL_ACTIONS if a not in ("list", "create")])
def test_permission_is_checked_before_the_lookup(
    action: str,
    anonymous: None,
    user: User,
    models: PretrainedModels,
    model_data: dict[str, Any],
) -> None:
    """An unknown pk does not tell an outsider whether a model exists."""
    with pytest.raises(NotAuthenticated):
        ALL_ACTIONS[action](models, anonymous, 999, model_data)
    if action in ADMIN_ACTIONS:
        with pytest.raises(PermissionDenied):
            ALL_ACTIONS[action](models, user, 999, model_data)


@pytest.mark.parametrize("action", [a for a in ALL_ACTIONS if a not in ("list", "create")])
def test_unknown_pk_is_not_found_for_the_admin(
    action: str, admin: User, models: PretrainedModels, model_data: dict[str, Any]
) -> None:
    with pytest.raises(NotFound):
        ALL_ACTIONS[action](models, admin, 999, model_data)


def test_system_actor_acts_as_admin_without_a_creator(
    models: PretrainedModels, model_data: dict[str, Any]
) -> None:
    created = models.create(SYSTEM, model_data)
    assert created.creator is None
    assert models.retrieve(SYSTEM, created.pk) is created


# -- create ------------------------------------------------------------------------


def test_create(
    models: PretrainedModels,
    admin: User,
    user: User,
    model_data: dict[str, Any],
    framework: Framework,
    clock: FakeClock,
) -> None:
    clock.advance(seconds=90)
    created = models.create(admin, model_data)
    assert created.pk is not None
    assert created.creator is admin
    assert created.creation_time == datetime(2026, 11, 26, 23, 43, 57, 123456, tzinfo=UTC)
    assert created.deletion_time is None
    assert created.metadata == ""
    assert created.framework is framework
    assert (created.domain.name, created.domain.description) == ("od", "Object Detection")
    assert created.licence.name == "MIT"
    assert (created.name, created.description) == ("yolo", "An object detector.")
    assert created.url == "https://example.org/models/yolo"
    assert created.blob is None
    assert models.retrieve(user, created.pk) is created
    assert models.list(user) == [created]


def test_create_keeps_metadata(
    models: PretrainedModels, admin: User, model_data: dict[str, Any]
) -> None:
    created = models.create(admin, {**model_data, "metadata": '{"classes": 80}'})
    assert created.metadata == '{"classes": 80}'


def test_create_ignores_read_only_and_unknown_fields(
    models: PretrainedModels,
    admin: User,
    user: User,
    model_data: dict[str, Any],
    uow: MemoryUnitOfWork,
) -> None:
    created = models.create(
        admin,
        {
            **model_data,
            "pk": 99,
            "creator": user.pk,
            "creation_time": "2000-01-01T00:00:00Z",
            "deletion_time": "2000-01-02T00:00:00Z",
            "data": True,
            "data_sha256": sha(b"x"),
            "data_size": 1,
            "colour": "blue",
        },
    )
    assert created.pk != 99
    assert uow.models.get(99) is None
    assert created.creator is admin
    assert created.creation_time == START
    assert created.deletion_time is None
    assert created.blob is None
    assert not hasattr(created, "colour")


def test_create_requires_every_writable_field_but_metadata(
    models: PretrainedModels, admin: User, uow: MemoryUnitOfWork
) -> None:
    fields = invalid_fields(lambda: models.create(admin, {}))
    assert fields == {
        name: [REQUIRED]
        for name in ("name", "description", "url", "framework", "domain", "licence")
    }
    assert everything(uow.models) == []


@pytest.mark.parametrize(
    "missing", ["name", "description", "url", "framework", "domain", "licence"]
)
def test_create_reports_each_missing_field(
    missing: str, models: PretrainedModels, admin: User, model_data: dict[str, Any]
) -> None:
    data = {k: v for k, v in model_data.items() if k != missing}
    assert invalid_fields(lambda: models.create(admin, data)) == {missing: [REQUIRED]}
    # null is no value: refused as the API refuses it, not taken for absent
    assert invalid_fields(lambda: models.create(admin, {**data, missing: None})) == {
        missing: [NOT_NULL]
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "n" * 201, too_long(200)),
        ("name", "", BLANK),
        ("name", "   ", BLANK),
        ("name", 5, NOT_TEXT),
        ("name", ["yolo"], NOT_TEXT),
        ("description", 1.5, NOT_TEXT),
        ("metadata", {"a": 1}, NOT_TEXT),
        ("url", "ftp://example.org/model", BAD_URL),
        ("url", "http://", BAD_URL),
        ("url", "https:///no-host", BAD_URL),
        ("url", "example.org/model", BAD_URL),
        ("url", "https://example.org/a model", BAD_URL),
        ("url", "https://example.org:99999/", BAD_URL),
        ("url", "https://example.org/" + "u" * 181, too_long(200)),
        ("url", 7, NOT_TEXT),
        ("framework", "1", NOT_INT),
        ("framework", True, NOT_INT),
        ("framework", 1.0, NOT_INT),
        ("framework", 999, 'Invalid pk "999" - object does not exist.'),
        ("domain", "Object Detection", "Object with name=Object Detection does not exist."),
        ("domain", "xx", "Object with name=xx does not exist."),
        ("domain", 2, NOT_TEXT),
        ("licence", "WTFPL", "Object with name=WTFPL does not exist."),
        ("licence", 1, NOT_TEXT),
    ],
)
def test_create_rejects_a_bad_field(
    field: str,
    value: Any,
    message: str,
    models: PretrainedModels,
    admin: User,
    model_data: dict[str, Any],
    uow: MemoryUnitOfWork,
) -> None:
    fields = invalid_fields(lambda: models.create(admin, {**model_data, field: value}))
    assert fields == {field: [message]}
    assert everything(uow.models) == []


def test_create_reports_every_bad_field_at_once(
    models: PretrainedModels, admin: User, model_data: dict[str, Any]
) -> None:
    fields = invalid_fields(
        lambda: models.create(
            admin, {**model_data, "name": "", "url": "ftp://x.org", "licence": "nope"}
        )
    )
    assert set(fields) == {"name", "url", "licence"}


def test_limits_are_inclusive(
    models: PretrainedModels, admin: User, model_data: dict[str, Any]
) -> None:
    url = "https://example.org/" + "u" * 180
    created = models.create(admin, {**model_data, "name": "n" * 200, "url": url})
    assert (created.name, created.url) == ("n" * 200, url)
    assert (len(created.name), len(created.url)) == (200, 200)


def test_description_may_be_blank(
    models: PretrainedModels, admin: User, model_data: dict[str, Any]
) -> None:
    assert models.create(admin, {**model_data, "description": ""}).description == ""


# -- update --------------------------------------------------------------------------


def test_put_replaces_every_writable_field(
    models: PretrainedModels,
    admin: User,
    model: PretrainedModel,
    uow: MemoryUnitOfWork,
) -> None:
    onnx = Framework("onnx", "1.15")
    uow.frameworks.add(onnx)
    updated = models.update(
        admin,
        model.pk,
        {
            "framework": onnx.pk,
            "domain": "ic",
            "licence": "Apache 2.0",
            "url": "http://models.local/resnet",
            "description": "A classifier.",
            "name": "resnet",
            "metadata": "m",
        },
    )
    assert updated is model
    assert updated.framework is onnx
    assert updated.domain.description == "Image Classification"
    assert updated.licence.name == "Apache 2.0"
    assert (updated.url, updated.description, updated.name, updated.metadata) == (
        "http://models.local/resnet",
        "A classifier.",
        "resnet",
        "m",
    )
    assert models.retrieve(admin, model.pk).name == "resnet"


@pytest.mark.parametrize(
    "missing", ["name", "description", "url", "framework", "domain", "licence"]
)
def test_put_requires_every_writable_field_but_metadata(
    missing: str,
    models: PretrainedModels,
    admin: User,
    model: PretrainedModel,
    model_data: dict[str, Any],
) -> None:
    data = {k: v for k, v in {**model_data, "name": "renamed"}.items() if k != missing}
    assert invalid_fields(lambda: models.update(admin, model.pk, data)) == {missing: [REQUIRED]}
    assert model.name == "yolo"


def test_put_without_metadata_is_accepted(
    models: PretrainedModels, admin: User, model: PretrainedModel, model_data: dict[str, Any]
) -> None:
    updated = models.update(admin, model.pk, {**model_data, "name": "renamed"})
    assert updated.name == "renamed"


def test_patch_changes_only_the_given_fields(
    models: PretrainedModels, admin: User, model: PretrainedModel
) -> None:
    assert models.update(admin, model.pk, {}, partial=True) is model
    assert model.name == "yolo"
    models.update(admin, model.pk, {"domain": "sp", "metadata": "x"}, partial=True)
    assert (model.domain.name, model.metadata) == ("sp", "x")
    assert (model.name, model.licence.name, model.url) == (
        "yolo",
        "MIT",
        "https://example.org/models/yolo",
    )
    models.update(admin, model.pk, {"name": "renamed"}, partial=True)
    assert (model.name, model.domain.name) == ("renamed", "sp")


def test_patch_validates_what_it_gets(
    models: PretrainedModels, admin: User, model: PretrainedModel
) -> None:
    fields = invalid_fields(
        lambda: models.update(admin, model.pk, {"name": " ", "licence": "none"}, partial=True)
    )
    assert fields == {"name": [BLANK], "licence": ["Object with name=none does not exist."]}
    assert (model.name, model.licence.name) == ("yolo", "MIT")


def test_update_ignores_read_only_fields(
    models: PretrainedModels,
    admin: User,
    user: User,
    model_with_file: PretrainedModel,
    clock: FakeClock,
) -> None:
    model = model_with_file
    clock.advance(hours=1)
    before = (model.pk, model.creator, model.creation_time, model.blob)
    models.update(
        admin,
        model.pk,
        {
            "pk": 42,
            "creator": user.pk,
            "creation_time": "2000-01-01T00:00:00Z",
            "deletion_time": "2000-01-01T00:00:00Z",
            "data": False,
            "description": "changed",
        },
        partial=True,
    )
    assert (model.pk, model.creator, model.creation_time, model.blob) == before
    assert model.deletion_time is None
    assert model.description == "changed"


# -- list ----------------------------------------------------------------------------


def test_list_filters_and_orders(
    models: PretrainedModels,
    admin: User,
    user: User,
    model: PretrainedModel,
    other: PretrainedModel,
) -> None:
    models.update(admin, other.pk, {"domain": "ic"}, partial=True)
    only_od = {"expressions": [{"type": "exact", "field": "domain.name", "value": "od"}]}
    assert models.list(user, only_od) == [model]
    by_name_desc = {"order_by": [{"field": "name", "ascending": False}]}
    assert models.list(user, by_name_desc) == [model, other]
    assert models.list(user, {"order_by": [{"field": "name"}]}) == [other, model]
    by_creator = {"expressions": [{"type": "exact", "field": "creator.username", "value": "admin"}]}
    assert models.list(user, by_creator) == [model, other]


def test_list_filters_on_data(
    models: PretrainedModels, user: User, model_with_file: PretrainedModel, other: PretrainedModel
) -> None:
    with_data = {"expressions": [{"type": "exact", "field": "data", "value": True}]}
    assert models.list(user, with_data) == [model_with_file]
    without = {"expressions": [{"type": "exact", "field": "data", "value": False}]}
    assert models.list(user, without) == [other]


def test_list_rejects_a_bad_filter(models: PretrainedModels, user: User) -> None:
    bad = {"expressions": [{"type": "exact", "field": "creator.password", "value": "x"}]}
    with pytest.raises(Invalid, match=r"'creator\.password'"):
        models.list(user, bad)


# -- rule 1: soft delete -----------------------------------------------------------


def test_soft_delete_hides_from_list_but_not_from_retrieve(
    models: PretrainedModels,
    admin: User,
    user: User,
    model: PretrainedModel,
    other: PretrainedModel,
    clock: FakeClock,
) -> None:
    clock.advance(minutes=3)
    assert models.soft_delete(admin, model.pk) is None
    assert models.list(user) == [other]
    assert models.list(user, {"include_inactive": True}) == [model, other]
    retrieved = models.retrieve(user, model.pk)
    assert retrieved is model
    assert retrieved.deletion_time == clock.now()
    assert retrieved.deletion_time != retrieved.creation_time


def test_list_of_deleted_only(
    models: PretrainedModels, admin: User, model: PretrainedModel, other: PretrainedModel
) -> None:
    models.soft_delete(admin, other.pk)
    deleted = {"expressions": [{"type": "isnull", "field": "deletion_time", "invert": True}]}
    assert models.list(admin, deleted) == []
    assert models.list(admin, {**deleted, "include_inactive": True}) == [other]


def test_inverted_comparison_on_null_deletion_time_selects_active_models(
    models: PretrainedModels, admin: User, model: PretrainedModel, other: PretrainedModel
) -> None:
    """Two-valued logic: NOT (null > t) is true."""
    models.soft_delete(admin, other.pk)
    spec = {
        "expressions": [
            {
                "type": "compare",
                "field": "deletion_time",
                "operator": ">",
                "value": "2000-01-01T00:00:00Z",
                "invert": True,
            }
        ],
        "include_inactive": True,
    }
    assert models.list(admin, spec) == [model]


def test_soft_delete_twice_keeps_the_first_deletion_time(
    models: PretrainedModels, admin: User, model: PretrainedModel, clock: FakeClock
) -> None:
    clock.advance(minutes=1)
    models.soft_delete(admin, model.pk)
    first = model.deletion_time
    clock.advance(days=1)
    assert models.soft_delete(admin, model.pk) is None
    assert model.deletion_time == first == START.replace(minute=43)


# -- rule 2: reinstate ------------------------------------------------------------


def test_reinstate_clears_deletion_time(
    models: PretrainedModels, admin: User, user: User, model: PretrainedModel
) -> None:
    models.soft_delete(admin, model.pk)
    assert models.reinstate(admin, model.pk) is model
    assert model.deletion_time is None
    assert models.list(user) == [model]


def test_reinstating_an_active_model_changes_nothing(
    models: PretrainedModels,
    admin: User,
    model_with_file: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    before = state(uow, store)
    assert models.reinstate(admin, model_with_file.pk) is model_with_file
    uow.commit()
    assert state(uow, store) == before


# -- rule 3: a soft-deleted model is read-only ------------------------------------

WRITES: dict[str, Callable[[PretrainedModels, User, int, dict[str, Any]], Any]] = {
    "update": lambda s, a, pk, data: s.update(a, pk, {**data, "name": "renamed"}),
    "partial_update": lambda s, a, pk, data: s.update(a, pk, {"name": "renamed"}, partial=True),
    "set_file": lambda s, a, pk, data: s.set_file(a, pk, io.BytesIO(b"other bytes")),
    "delete_file": lambda s, a, pk, data: s.delete_file(a, pk),
}


@pytest.mark.parametrize("write", WRITES)
def test_writes_to_a_soft_deleted_model_conflict(
    write: str,
    models: PretrainedModels,
    admin: User,
    model_with_file: PretrainedModel,
    model_data: dict[str, Any],
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    models.soft_delete(admin, model_with_file.pk)
    before = state(uow, store)
    with pytest.raises(Conflict):
        WRITES[write](models, admin, model_with_file.pk, model_data)
    uow.commit()
    assert state(uow, store) == before
    models.reinstate(admin, model_with_file.pk)
    WRITES[write](models, admin, model_with_file.pk, model_data)


def test_delete_file_on_a_soft_deleted_model_without_file_conflicts(
    models: PretrainedModels, admin: User, model: PretrainedModel
) -> None:
    models.soft_delete(admin, model.pk)
    with pytest.raises(Conflict):
        models.delete_file(admin, model.pk)


def test_download_of_a_soft_deleted_model_is_gone(
    models: PretrainedModels, admin: User, user: User, model_with_file: PretrainedModel
) -> None:
    models.soft_delete(admin, model_with_file.pk)
    with pytest.raises(Gone, match="deleted"):
        models.download(user, model_with_file.pk)
    models.reinstate(admin, model_with_file.pk)
    assert models.download(user, model_with_file.pk).file.read() == WEIGHTS


# -- rule 4: hard delete -----------------------------------------------------------


@pytest.mark.parametrize("soft_deleted_first", [False, True])
def test_hard_delete_removes_the_record(
    soft_deleted_first: bool,
    models: PretrainedModels,
    admin: User,
    model: PretrainedModel,
    other: PretrainedModel,
) -> None:
    pk = model.pk
    if soft_deleted_first:
        models.soft_delete(admin, pk)
    removed = models.hard_delete(admin, pk)
    assert removed is model
    assert removed.pk == pk
    assert removed.name == "yolo"
    with pytest.raises(NotFound):
        models.retrieve(admin, pk)
    assert models.list(admin, {"include_inactive": True}) == [other]
    with pytest.raises(NotFound):
        models.hard_delete(admin, pk)


def test_hard_delete_releases_the_file_only_after_commit(
    models: PretrainedModels,
    admin: User,
    model_with_file: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    weights = ref(WEIGHTS)
    models.hard_delete(admin, model_with_file.pk)
    assert store.exists(weights)
    assert store.open(weights).read() == WEIGHTS
    uow.commit()
    assert not store.exists(weights)
    assert uow.blobs.all().get(weights.sha256, 0) == 0


def test_aborted_hard_delete_keeps_the_file(
    models: PretrainedModels,
    admin: User,
    model_with_file: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    models.hard_delete(admin, model_with_file.pk)
    uow.abort()
    uow.commit()
    assert store.exists(ref(WEIGHTS))


def test_hard_delete_keeps_bytes_another_model_references(
    models: PretrainedModels,
    admin: User,
    user: User,
    model_with_file: PretrainedModel,
    other: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    models.set_file(admin, other.pk, io.BytesIO(WEIGHTS))
    uow.commit()
    models.hard_delete(admin, model_with_file.pk)
    uow.commit()
    assert store.exists(ref(WEIGHTS))
    assert uow.blobs.all().get(sha(WEIGHTS), 0) == 1
    assert models.download(user, other.pk).file.read() == WEIGHTS
    models.hard_delete(admin, other.pk)
    uow.commit()
    assert stored_bytes(store) == {}


def test_hard_delete_then_upload_of_the_same_bytes_in_one_transaction(
    models: PretrainedModels,
    admin: User,
    user: User,
    model_with_file: PretrainedModel,
    other: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    models.hard_delete(admin, model_with_file.pk)
    models.set_file(admin, other.pk, io.BytesIO(WEIGHTS))
    uow.commit()
    assert models.download(user, other.pk).file.read() == WEIGHTS


def test_hard_delete_of_a_model_without_file(
    models: PretrainedModels,
    admin: User,
    model: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    models.hard_delete(admin, model.pk)
    uow.commit()
    assert everything(uow.models) == []
    assert uow.blobs.all() == {}


def test_hard_delete_many_is_all_or_nothing(
    models: PretrainedModels,
    admin: User,
    model_with_file: PretrainedModel,
    other: PretrainedModel,
    uow: MemoryUnitOfWork,
) -> None:
    with pytest.raises(NotFound):
        models.hard_delete_many(admin, [model_with_file.pk, 999])
    removed = models.hard_delete_many(admin, [other.pk, model_with_file.pk, other.pk])
    assert removed == [model_with_file, other]
    uow.commit()
    assert models.list(admin, {"include_inactive": True}) == []
    assert uow.blobs.all().get(sha(WEIGHTS), 0) == 0


def test_hard_delete_many_re_checks_its_condition_on_the_locked_models(
    models: PretrainedModels,
    admin: User,
    model_with_file: PretrainedModel,
    other: PretrainedModel,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
) -> None:
    """A batch picks models, then deletes those still as it picked them: one
    gone or changed meanwhile is left alone."""
    models.soft_delete(admin, other.pk)
    removed = models.hard_delete_many(
        admin, [model_with_file.pk, other.pk, 999], only_if=lambda m: m.is_deleted
    )
    assert removed == [other]
    uow.commit()
    assert models.retrieve(admin, model_with_file.pk) is model_with_file
    assert store.exists(ref(WEIGHTS))


# -- rule 5: set file -------------------------------------------------------------


class Unreadable(io.RawIOBase):
    """A body that must not be read."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


def test_set_file_refuses_before_reading_a_byte(
    models: PretrainedModels, admin: User, model: PretrainedModel
) -> None:
    with pytest.raises(NotFound):
        models.set_file(admin, 999, Unreadable())
    models.soft_delete(admin, model.pk)
    with pytest.raises(Conflict):
        models.set_file(admin, model.pk, Unreadable())


class DeletingBody(io.BytesIO):
    """Bytes whose reading gives time for another change of the model."""

    def __init__(self, data: bytes, meanwhile: Callable[[], object]) -> None:
        super().__init__(data)
        self.meanwhile: Callable[[], object] | None = meanwhile

    def read(self, size: int | None = -1) -> bytes:
        meanwhile, self.meanwhile = self.meanwhile, None
        if meanwhile is not None:
            meanwhile()
        return super().read(size)


@pytest.mark.parametrize(
    ("change", "error"),
    [("hard_delete", NotFound), ("soft_delete", Conflict)],
)
def test_set_file_checks_the_model_again_once_the_bytes_are_in(
    models: PretrainedModels,
    admin: User,
    model_with_file: PretrainedModel,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
    change: str,
    error: type[Exception],
) -> None:
    pk = model_with_file.pk
    body = DeletingBody(b"new weights", lambda: getattr(models, change)(admin, pk))
    with pytest.raises(error):
        models.set_file(admin, pk, body)
    assert list(store.temporaries()) == []
    assert not store.exists(ref(b"new weights"))
    assert uow.blobs.all().get(sha(b"new weights"), 0) == 0


def test_set_file(
    models: PretrainedModels,
    admin: User,
    model: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
    clock: FakeClock,
) -> None:
    clock.advance(seconds=5)
    returned = models.set_file(admin, model.pk, io.BytesIO(WEIGHTS), declared_size=len(WEIGHTS))
    assert returned is model
    assert model.blob == ref(WEIGHTS)
    assert (model.data_sha256, model.data_size) == (sha(WEIGHTS), 7)
    assert model.data_time == clock.now()
    assert stored_bytes(store) == {sha(WEIGHTS): WEIGHTS}
    assert list(store.temporaries()) == []
    assert uow.blobs.all().get(sha(WEIGHTS), 0) == 1


@pytest.mark.parametrize("declared", [None, 0])
def test_empty_file_is_invalid_and_stores_nothing(
    declared: int | None,
    models: PretrainedModels,
    admin: User,
    model_with_file: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    before = state(uow, store)
    with pytest.raises(Invalid, match="empty"):
        models.set_file(admin, model_with_file.pk, io.BytesIO(b""), declared_size=declared)
    uow.commit()
    assert state(uow, store) == before
    assert model_with_file.blob == ref(WEIGHTS)


def test_file_of_exactly_the_limit_is_accepted(
    models: PretrainedModels, admin: User, model: PretrainedModel, store: MemoryBlobStore
) -> None:
    data = b"x" * MAX_FILE_SIZE
    models.set_file(admin, model.pk, io.BytesIO(data), declared_size=MAX_FILE_SIZE)
    assert stored_bytes(store) == {sha(data): data}


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        (b"x" * (MAX_FILE_SIZE + 1), None),
        (b"x" * (MAX_FILE_SIZE + 1), MAX_FILE_SIZE),
        (b"x" * 10, MAX_FILE_SIZE + 1),
    ],
    ids=["stream-undeclared", "stream-lies", "declared"],
)
def test_file_over_the_limit_is_too_large_and_stores_nothing(
    data: bytes,
    declared: int | None,
    models: PretrainedModels,
    admin: User,
    model_with_file: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    before = state(uow, store)
    with pytest.raises(TooLarge):
        models.set_file(admin, model_with_file.pk, io.BytesIO(data), declared_size=declared)
    uow.commit()
    assert state(uow, store) == before
    assert model_with_file.blob == ref(WEIGHTS)


def test_file_over_the_limit_in_many_chunks(
    admin: User, model: PretrainedModel, uow: MemoryUnitOfWork, clock: FakeClock
) -> None:
    store = MemoryBlobStore(chunk_size=100)
    service = PretrainedModels(uow, store, clock, max_file_size=MAX_FILE_SIZE)
    with pytest.raises(TooLarge):
        service.set_file(admin, model.pk, io.BytesIO(b"y" * 5000))
    assert (stored_bytes(store), list(store.temporaries()), uow.blobs.all()) == ({}, [], {})
    assert model.blob is None


def test_no_limit_when_unconfigured(
    admin: User, model: PretrainedModel, uow: MemoryUnitOfWork, store: MemoryBlobStore
) -> None:
    service = PretrainedModels(uow, store, FakeClock())
    service.set_file(admin, model.pk, io.BytesIO(b"z" * 5000), declared_size=5000)
    assert model.data_size == 5000


def test_replacing_the_file_releases_the_old_bytes_after_commit(
    models: PretrainedModels,
    admin: User,
    user: User,
    model_with_file: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    models.set_file(admin, model_with_file.pk, io.BytesIO(b"new weights"))
    assert models.download(user, model_with_file.pk).file.read() == b"new weights"
    assert store.exists(ref(WEIGHTS)), "old bytes must survive until commit"
    uow.commit()
    assert stored_bytes(store) == {sha(b"new weights"): b"new weights"}
    assert uow.blobs.all() == {sha(b"new weights"): 1}


def test_reuploading_identical_bytes_keeps_them(
    models: PretrainedModels,
    admin: User,
    user: User,
    model_with_file: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    models.set_file(admin, model_with_file.pk, io.BytesIO(WEIGHTS))
    uow.commit()
    assert stored_bytes(store) == {sha(WEIGHTS): WEIGHTS}
    assert uow.blobs.all().get(sha(WEIGHTS), 0) == 1
    assert models.download(user, model_with_file.pk).file.read() == WEIGHTS


def test_an_open_download_survives_a_replacement(
    models: PretrainedModels,
    admin: User,
    user: User,
    model_with_file: PretrainedModel,
    uow: MemoryUnitOfWork,
) -> None:
    started = models.download(user, model_with_file.pk)
    models.set_file(admin, model_with_file.pk, io.BytesIO(b"new weights"))
    uow.commit()
    assert started.file.read() == WEIGHTS
    assert models.download(user, model_with_file.pk).file.read() == b"new weights"


# -- rule 6: delete file ------------------------------------------------------------


def test_delete_file(
    models: PretrainedModels,
    admin: User,
    model_with_file: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    assert models.delete_file(admin, model_with_file.pk) is model_with_file
    assert model_with_file.blob is None
    assert (model_with_file.data_sha256, model_with_file.data_size) == (None, None)
    assert store.exists(ref(WEIGHTS))
    uow.commit()
    assert stored_bytes(store) == {}
    with pytest.raises(NotFound, match="has no file"):
        models.download(admin, model_with_file.pk)


def test_delete_file_without_file_changes_nothing(
    models: PretrainedModels,
    admin: User,
    model: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    before = state(uow, store)
    assert models.delete_file(admin, model.pk) is model
    uow.commit()
    assert state(uow, store) == before


# -- rule 7: download -------------------------------------------------------------


def test_download_opens_the_bytes_uploaded_to_that_model(
    models: PretrainedModels,
    admin: User,
    user: User,
    model_with_file: PretrainedModel,
    other: PretrainedModel,
    uow: MemoryUnitOfWork,
) -> None:
    models.set_file(admin, other.pk, io.BytesIO(b"other weights"))
    uow.commit()
    for model, uploaded in ((model_with_file, WEIGHTS), (other, b"other weights")):
        download = models.download(user, model.pk, filetype="data")
        assert (download.model.pk, download.model.name) == (model.pk, model.name)
        assert download.ref == BlobRef(model.data_sha256, model.data_size) == ref(uploaded)
        assert download.file.read() == uploaded
        # The web layer seeks for a range request: the file handed over seeks.
        download.file.seek(2)
        assert download.file.read(3) == uploaded[2:5]


def test_download_without_file_is_not_found(
    models: PretrainedModels, user: User, model: PretrainedModel
) -> None:
    with pytest.raises(NotFound, match="has no file"):
        models.download(user, model.pk)


@pytest.mark.parametrize("filetype", ["model", "DATA", "", "zip", 1])
def test_download_of_another_filetype_is_unsupported(
    filetype: Any, models: PretrainedModels, user: User, model_with_file: PretrainedModel
) -> None:
    with pytest.raises(UnsupportedFileType):
        models.download(user, model_with_file.pk, filetype=filetype)


@pytest.mark.parametrize(
    "params",
    [
        ["a"],
        "a=b",
        1,
        {"a": 1},
        {"a": None},
        {"a": {"b": "c"}},
        {"a": ["b", 2]},
        {"a": [["b"]]},
        {1: "a"},
    ],
)
def test_download_with_bad_params_is_invalid(
    params: Any, models: PretrainedModels, user: User, model_with_file: PretrainedModel
) -> None:
    fields = invalid_fields(lambda: models.download(user, model_with_file.pk, params=params))
    assert list(fields) == ["params"]


@pytest.mark.parametrize("params", [None, {}, {"a": "b"}, {"a": ["b", "c"], "d": []}])
def test_download_with_good_params_ignores_them(
    params: Any, models: PretrainedModels, user: User, model_with_file: PretrainedModel
) -> None:
    assert models.download(user, model_with_file.pk, "data", params).file.read() == WEIGHTS


# -- rule 8: identical bytes stored once --------------------------------------------


def test_identical_bytes_on_two_models_are_stored_once(
    models: PretrainedModels,
    admin: User,
    user: User,
    model: PretrainedModel,
    other: PretrainedModel,
    uow: MemoryUnitOfWork,
    store: MemoryBlobStore,
) -> None:
    models.set_file(admin, model.pk, io.BytesIO(WEIGHTS))
    models.set_file(admin, other.pk, io.BytesIO(WEIGHTS))
    uow.commit()
    assert stored_bytes(store) == {sha(WEIGHTS): WEIGHTS}
    assert uow.blobs.all().get(sha(WEIGHTS), 0) == 2
    assert model.blob == other.blob == ref(WEIGHTS)
    models.delete_file(admin, model.pk)
    uow.commit()
    assert models.download(user, other.pk).file.read() == WEIGHTS
    assert uow.blobs.all().get(sha(WEIGHTS), 0) == 1
