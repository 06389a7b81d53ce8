"""Resumable uploads: creation, parts, completion with the rules of set file,
termination and expiry, against the in-memory fakes."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import timedelta

import pytest

from adapters.memory import MemoryBlobStore, MemoryUnitOfWork, PlainPasswordHasher
from domain.errors import (
    Busy,
    ChecksumMismatch,
    Conflict,
    Invalid,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooLarge,
)
from domain.model import BlobRef, PretrainedModel, Upload, User
from domain.services.pretrained_models import PretrainedModels
from domain.services.uploads import UPLOAD_LIFETIME, Checksum, Uploads
from tests.unit.conftest import MAX_FILE_SIZE, FakeClock, add_user, stored_bytes

DATA = bytes(range(256)) * 3  # 768 bytes, under the fakes' limit of 1024


def ref(data: bytes) -> BlobRef:
    return BlobRef(hashlib.sha256(data).hexdigest(), len(data))


def send(
    uploads: Uploads, actor: User | None, upload: Upload, offset: int, data: bytes, **kw: object
) -> object:
    return uploads.append(actor, upload.id, offset, io.BytesIO(data), **kw)  # type: ignore[arg-type]


def staged_size(store: MemoryBlobStore, upload: Upload) -> int:
    return len(store.parts[upload.id])


def test_parts_attach_the_file_on_the_last_byte(
    uploads: Uploads,
    admin: User,
    model: PretrainedModel,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
) -> None:
    upload = uploads.create(admin, model.pk, len(DATA), "weights.onnx")
    uow.commit()
    assert (upload.offset, upload.owner_pk, upload.filename) == (0, admin.pk, "weights.onnx")

    first = send(uploads, admin, upload, 0, DATA[:300])
    assert first.offset == 300 and first.attached is None  # type: ignore[attr-defined]
    assert uploads.status(admin, upload.id).offset == 300
    last = send(uploads, admin, upload, 300, DATA[300:])

    assert last.offset == len(DATA) and last.attached == ref(DATA)  # type: ignore[attr-defined]
    assert last.expires is None  # type: ignore[attr-defined]
    assert model.blob == ref(DATA)
    assert stored_bytes(store) == {ref(DATA).sha256: DATA}
    assert store.parts == {} and list(store.temporaries()) == []
    assert uow.blobs.all() == {ref(DATA).sha256: 1}
    with pytest.raises(NotFound):
        uploads.status(admin, upload.id)


@pytest.mark.parametrize(
    ("who", "length", "error"),
    [
        ("user", 10, PermissionDenied),
        ("anonymous", 10, NotAuthenticated),
        ("admin", MAX_FILE_SIZE + 1, TooLarge),
        ("admin", 0, Invalid),
    ],
)
def test_creation_is_refused_as_set_file_refuses_a_file(
    uploads: Uploads,
    admin: User,
    user: User,
    model: PretrainedModel,
    store: MemoryBlobStore,
    who: str,
    length: int,
    error: type[Exception],
) -> None:
    actor = {"admin": admin, "user": user, "anonymous": None}[who]
    with pytest.raises(error) as raised:
        uploads.create(actor, model.pk, length)
    if error is Invalid:
        assert raised.value.detail == "The submitted file is empty."  # type: ignore[attr-defined]
    assert store.parts == {}


def test_creation_names_a_missing_model_a_deleted_one_or_a_bad_filename(
    uploads: Uploads, admin: User, model: PretrainedModel, store: MemoryBlobStore, clock: FakeClock
) -> None:
    with pytest.raises(Invalid) as missing:
        uploads.create(admin, 999, 10)
    assert missing.value.fields == {"model": ['Invalid pk "999" - object does not exist.']}
    with pytest.raises(Invalid) as bad_name:
        uploads.create(admin, model.pk, 10, "a\x00b")
    assert list(bad_name.value.fields) == ["filename"]
    model.deletion_time = clock.now()
    with pytest.raises(Conflict):
        uploads.create(admin, model.pk, 10)
    assert store.parts == {}


def test_only_its_creator_sees_an_upload(
    uploads: Uploads,
    admin: User,
    model: PretrainedModel,
    uow: MemoryUnitOfWork,
    hasher: PlainPasswordHasher,
) -> None:
    upload = uploads.create(admin, model.pk, len(DATA))
    other = add_user(uow, hasher, "other-admin", password="x", is_staff=True)
    for action in (
        lambda: uploads.status(other, upload.id),
        lambda: send(uploads, other, upload, 0, DATA),
        lambda: uploads.terminate(other, upload.id),
    ):
        with pytest.raises(NotFound):
            action()
    for unknown in ("0" * 32, "not-an-id", upload.id.upper()):
        with pytest.raises(NotFound):
            uploads.status(admin, unknown)
    assert uploads.status(admin, upload.id).offset == 0


def test_a_part_must_start_where_the_upload_stands_and_end_by_its_length(
    uploads: Uploads, admin: User, model: PretrainedModel, store: MemoryBlobStore
) -> None:
    upload = uploads.create(admin, model.pk, len(DATA))
    send(uploads, admin, upload, 0, DATA[:100])

    for offset in (0, 99, 101):
        with pytest.raises(Conflict, match="stands at offset 100"):
            send(uploads, admin, upload, offset, DATA[offset:])
    with pytest.raises(TooLarge):  # declared too long: refused before reading
        send(uploads, admin, upload, 100, b"", declared=len(DATA))
    with pytest.raises(TooLarge):  # found too long while reading
        send(uploads, admin, upload, 100, DATA[100:] + b"x")

    assert uploads.status(admin, upload.id).offset == 100
    assert staged_size(store, upload) == 100


def test_a_part_with_a_checksum_counts_only_if_it_matches(
    uploads: Uploads, admin: User, model: PretrainedModel, store: MemoryBlobStore
) -> None:
    upload = uploads.create(admin, model.pk, len(DATA))
    good = Checksum("sha256", hashlib.sha256(DATA[:500]).digest())
    bad = Checksum("sha256", base64.b64decode("AAAA" * 11 + "AA=="))

    with pytest.raises(ChecksumMismatch):
        send(uploads, admin, upload, 0, DATA[:500], checksum=bad)
    assert uploads.status(admin, upload.id).offset == 0 and staged_size(store, upload) == 0
    with pytest.raises(Invalid, match="Unsupported checksum algorithm 'md5'"):
        send(uploads, admin, upload, 0, DATA[:500], checksum=Checksum("md5", b""))

    assert send(uploads, admin, upload, 0, DATA[:500], checksum=good).offset == 500  # type: ignore[attr-defined]


def test_bytes_a_dead_part_left_past_the_offset_are_dropped(
    uploads: Uploads, admin: User, model: PretrainedModel, store: MemoryBlobStore
) -> None:
    upload = uploads.create(admin, model.pk, len(DATA))
    send(uploads, admin, upload, 0, DATA[:200])
    store.parts[upload.id] += b"garbage of a part that died before it was recorded"

    send(uploads, admin, upload, 200, DATA[200:])

    assert model.blob == ref(DATA)
    assert stored_bytes(store) == {ref(DATA).sha256: DATA}


def test_a_part_while_another_is_written_is_busy(
    uploads: Uploads, admin: User, model: PretrainedModel, store: MemoryBlobStore
) -> None:
    upload = uploads.create(admin, model.pk, len(DATA))
    with store.resume_staging(upload.id), pytest.raises(Busy):
        send(uploads, admin, upload, 0, DATA)

    send(uploads, admin, upload, 0, DATA)
    with pytest.raises(NotFound):  # the same last part again: the upload is gone
        send(uploads, admin, upload, 0, DATA)
    assert model.blob == ref(DATA)


def test_a_completion_refused_keeps_nothing(
    uploads: Uploads,
    admin: User,
    model: PretrainedModel,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
    clock: FakeClock,
) -> None:
    upload = uploads.create(admin, model.pk, len(DATA))
    send(uploads, admin, upload, 0, DATA[:10])
    model.deletion_time = clock.now()  # soft-deleted meanwhile
    uow.commit()

    with pytest.raises(Conflict, match="deleted"):
        send(uploads, admin, upload, 10, DATA[10:])

    assert model.blob is None
    assert store.blobs == {} and store.staged == {} and store.parts == {}
    assert uow.uploads.all() == []
    with pytest.raises(NotFound):
        uploads.status(admin, upload.id)


def test_a_model_hard_deleted_meanwhile_gets_no_file(
    uploads: Uploads,
    admin: User,
    model: PretrainedModel,
    models: PretrainedModels,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
) -> None:
    upload = uploads.create(admin, model.pk, len(DATA))
    models.hard_delete(admin, model.pk)
    uow.commit()

    with pytest.raises(NotFound):
        send(uploads, admin, upload, 0, DATA)

    assert store.blobs == {} and store.parts == {} and uow.uploads.all() == []


def test_an_admin_demoted_meanwhile_appends_nothing(
    uploads: Uploads, admin: User, model: PretrainedModel, store: MemoryBlobStore
) -> None:
    upload = uploads.create(admin, model.pk, len(DATA))
    admin.is_staff = False

    with pytest.raises(PermissionDenied):
        send(uploads, admin, upload, 0, DATA)

    assert model.blob is None and staged_size(store, upload) == 0


def test_the_file_replaces_the_previous_one_and_identical_bytes_are_stored_once(
    uploads: Uploads,
    admin: User,
    model_with_file: PretrainedModel,
    models: PretrainedModels,
    model_data: dict[str, object],
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
) -> None:
    other = models.create(admin, model_data)
    uow.commit()
    for target in (model_with_file, other):
        upload = uploads.create(admin, target.pk, len(DATA))
        send(uploads, admin, upload, 0, DATA)

    assert model_with_file.blob == other.blob == ref(DATA)
    assert stored_bytes(store) == {ref(DATA).sha256: DATA}  # b"weights" collected
    assert uow.blobs.all() == {ref(DATA).sha256: 2}


def test_termination_forgets_the_upload_and_its_bytes_after_commit(
    uploads: Uploads,
    admin: User,
    model: PretrainedModel,
    store: MemoryBlobStore,
    uow: MemoryUnitOfWork,
) -> None:
    upload = uploads.create(admin, model.pk, len(DATA))
    send(uploads, admin, upload, 0, DATA[:10])

    uploads.terminate(admin, upload.id)
    uow.abort()  # not committed: nothing happened
    assert uploads.status(admin, upload.id).offset == 10 and upload.id in store.parts
    uploads.terminate(admin, upload.id)
    uow.commit()

    assert store.parts == {}
    for action in (
        lambda: uploads.status(admin, upload.id),
        lambda: send(uploads, admin, upload, 10, DATA[10:]),
        lambda: uploads.terminate(admin, upload.id),
    ):
        with pytest.raises(NotFound):
            action()


def test_an_upload_expires_a_lifetime_after_its_last_part(
    uploads: Uploads, admin: User, model: PretrainedModel, clock: FakeClock
) -> None:
    upload = uploads.create(admin, model.pk, len(DATA))
    assert upload.expires == clock.now() + UPLOAD_LIFETIME
    clock.advance(hours=20)
    moved = send(uploads, admin, upload, 0, DATA[:10])
    assert moved.expires == clock.now() + UPLOAD_LIFETIME  # type: ignore[attr-defined]
    clock.advance(hours=20)
    assert uploads.status(admin, upload.id).offset == 10

    clock.advance(timedelta(hours=4))
    for action in (
        lambda: uploads.status(admin, upload.id),
        lambda: send(uploads, admin, upload, 10, DATA[10:]),
        lambda: uploads.terminate(admin, upload.id),
    ):
        with pytest.raises(NotFound):
            action()


def test_an_empty_part_moves_nothing_but_the_expiry(
    uploads: Uploads, admin: User, model: PretrainedModel, clock: FakeClock
) -> None:
    upload = uploads.create(admin, model.pk, len(DATA))
    clock.advance(hours=1)
    kept = send(uploads, admin, upload, 0, b"")
    assert kept.offset == 0 and kept.expires == clock.now() + UPLOAD_LIFETIME  # type: ignore[attr-defined]
