"""A process that dies in the middle of a part, at any of its steps, leaves
the upload whole: its offset names bytes that are on disk, the writer's lock
dies with it, and the part sent again from that offset completes the file.

The part is sent through the real services by a child process that kills
itself (``os._exit``, no clean-up runs) at the chosen step; the parent then
reads the upload as a restarted server would, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.filesystem import FileBlobStore
from domain.errors import NotFound
from domain.permissions import SYSTEM
from domain.services.uploads import Uploads
from tests.integration.web.conftest import make_registry

PART = 256 * 1024
DATA = os.urandom(3 * PART)
DIED = 9


def _die(*args: Any, **kwargs: Any) -> None:
    os._exit(DIED)


class _DiesHalfWay(io.BytesIO):
    """A part's body during which the process dies, half of it written."""

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() >= len(self.getbuffer()) // 2:
            _die()
        return super().read(size)


@dataclass
class Scene:
    database_url: str
    blob_root: Path
    admin: int
    model: int
    upload: str

    def staged(self) -> bytes:
        return (self.blob_root / "tmp" / f"upload-{self.upload}.part").read_bytes()

    def send(self, offset: int, data: bytes) -> None:
        registry = make_registry(self.database_url, self.blob_root)
        try:
            with registry.transaction() as services:
                admin = services.uow.users.get(self.admin)
                services.uploads.append(admin, self.upload, offset, io.BytesIO(data), len(data))
        finally:
            registry.dispose()

    def offset(self) -> int:
        registry = make_registry(self.database_url, self.blob_root)
        try:
            with registry.transaction() as services:
                admin = services.uow.users.get(self.admin)
                return services.uploads.status(admin, self.upload).offset
        finally:
            registry.dispose()


@pytest.fixture
def scene(database_url: str, tmp_path: Path) -> Iterator[Scene]:
    """An upload of ``DATA`` whose first part is received."""
    blob_root = tmp_path / "blobs"
    registry = make_registry(database_url, blob_root)
    with registry.transaction() as services:
        admin = services.users.create(
            SYSTEM, {"username": "admin", "password": "pw", "is_staff": True}
        )
        framework = services.frameworks.create(SYSTEM, {"name": "onnx", "version": "1"})
        body = {"framework": framework.pk, "domain": "ic", "licence": "MIT"}
        model = services.models.create(
            SYSTEM, {**body, "name": "m", "url": "https://example.org/m", "description": ""}
        )
        upload = services.uploads.create(admin, model.pk, len(DATA))
        ids = (admin.pk, model.pk, upload.id)
    registry.dispose()
    scene = Scene(database_url, blob_root, *ids)
    scene.send(0, DATA[:PART])
    yield scene


def _part_then_die(scene: Scene, offset: int, where: str) -> None:
    """In the child: send the part at ``offset`` and die at ``where``."""
    data = DATA[offset : offset + PART]
    body: io.BytesIO = io.BytesIO(data)
    if where == "while appending":
        body = _DiesHalfWay(data)
    elif where == "before its offset is recorded":
        Uploads._advance = _die  # type: ignore[method-assign]
    elif where == "before the file is renamed into place":
        FileBlobStore.commit = _die  # type: ignore[method-assign]
    else:
        rename = FileBlobStore.commit

        def commit_then_die(self: FileBlobStore, staged: Any) -> Any:
            rename(self, staged)
            _die()

        FileBlobStore.commit = commit_then_die  # type: ignore[method-assign]
    registry = make_registry(scene.database_url, scene.blob_root)
    with registry.transaction() as services:
        admin = services.uow.users.get(scene.admin)
        services.uploads.append(admin, scene.upload, offset, body, len(data))
    os._exit(0)  # not reached: the part dies


def crash(scene: Scene, offset: int, where: str) -> None:
    """Send the parts before ``offset``, then the one at it from a child
    process that dies at ``where``."""
    for start in range(PART, offset, PART):
        scene.send(start, DATA[start : start + PART])
    child = multiprocessing.get_context("fork").Process(
        target=_part_then_die, args=(scene, offset, where)
    )
    child.start()
    child.join(60)
    assert child.exitcode == DIED


@pytest.mark.parametrize(
    ("where", "offset"),
    [
        ("while appending", PART),
        ("before its offset is recorded", PART),
        ("before the file is renamed into place", 2 * PART),
    ],
)
def test_a_part_that_died_is_sent_again_from_the_recorded_offset(
    scene: Scene, where: str, offset: int
) -> None:
    crash(scene, offset, where)

    # The offset names bytes on disk; what the dead part wrote past it is
    # dropped by the next part, which finds the writer's lock free.
    assert scene.offset() == offset
    assert scene.staged()[:offset] == DATA[:offset]
    for start in range(offset, len(DATA), PART):
        scene.send(start, DATA[start : start + PART])

    registry = make_registry(scene.database_url, scene.blob_root)
    try:
        with registry.transaction() as services:
            model = services.models.retrieve(SYSTEM, scene.model)
            assert model.data_sha256 == hashlib.sha256(DATA).hexdigest()
            with services.models.download(SYSTEM, scene.model).file as file:  # type: ignore[union-attr]
                assert file.read() == DATA
            assert services.maintenance.verify(SYSTEM).problems == []
    finally:
        registry.dispose()


def test_a_last_part_that_died_after_the_rename_loses_the_upload_not_the_registry(
    scene: Scene,
) -> None:
    """The one step after which a dead part cannot be sent again: its bytes
    are a blob no model points at (``gc`` removes it); the upload answers 404."""
    crash(scene, 2 * PART, "after the rename, before the commit")

    with pytest.raises(NotFound, match="no longer in the store"):
        scene.send(2 * PART, DATA[2 * PART :])

    registry = make_registry(scene.database_url, scene.blob_root)
    try:
        with registry.transaction() as services:
            assert services.models.retrieve(SYSTEM, scene.model).data_sha256 is None
            report = services.maintenance.verify(SYSTEM)
            assert report.unreferenced == [
                f"{hashlib.sha256(DATA).hexdigest()} ({len(DATA)} bytes)"
            ]
        with registry.transaction() as services:
            services.maintenance.collect_garbage(SYSTEM, timedelta(0))
        with registry.transaction() as services:
            assert services.maintenance.verify(SYSTEM).unreferenced == []
    finally:
        registry.dispose()
