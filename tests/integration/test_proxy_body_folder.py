"""The folder where nginx writes upload bodies, on a real disk: what ``gc``
sees of it and may remove; and what the in-memory fake must do alike."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.filesystem import ProxyBodyDirectory
from adapters.memory import MemoryProxyBodies
from domain.ports import ProxyBodyFolder

# A folder, and how the proxy writes a body file into it.
Proxy = tuple[ProxyBodyFolder, Callable[[str, bytes], None]]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "incoming"
    path.mkdir()
    return path


@pytest.fixture(params=["filesystem", "memory"])
def proxy(request: pytest.FixtureRequest, folder: Path) -> Proxy:
    if request.param == "memory":
        fake = MemoryProxyBodies()
        return fake, fake.write

    def write(name: str, data: bytes) -> None:
        (folder / name).write_bytes(data)

    return ProxyBodyDirectory(folder), write


def test_both_list_the_files_by_name_and_remove_each_once(proxy: Proxy) -> None:
    bodies, write = proxy
    before = datetime.now(UTC).replace(microsecond=0)
    write("0000000002", b"x" * 10)
    write("0000000001", b"body")
    files = list(bodies.files())
    assert [(f.name, f.size) for f in files] == [("0000000001", 4), ("0000000002", 10)]
    assert all(f.modified >= before for f in files)
    bodies.remove("0000000001")
    bodies.remove("0000000001")  # gone already: nothing to do
    assert [f.name for f in bodies.files()] == ["0000000002"]


def test_a_body_file_is_dated_by_its_last_write(folder: Path) -> None:
    (folder / "0000000001").write_bytes(b"body")
    then = time.time() - 7200
    os.utime(folder / "0000000001", (then, then))
    (listed,) = ProxyBodyDirectory(folder).files()
    assert abs(listed.modified - datetime.fromtimestamp(then, UTC)).total_seconds() < 1


def test_only_nginx_s_files_are_listed(folder: Path, tmp_path: Path) -> None:
    """nginx names its files by digits, directly in the folder: anything else
    there belongs to someone else."""
    (folder / "0000000001").write_bytes(b"body")
    (folder / "notes.txt").write_text("x")
    (folder / ".0000000002").write_bytes(b"x")
    (folder / "0000000003").mkdir()
    (folder / "0000000003" / "0000000004").write_bytes(b"x")
    outside = tmp_path / "precious"
    outside.write_bytes(b"x")
    (folder / "0000000005").symlink_to(outside)

    assert [f.name for f in ProxyBodyDirectory(folder).files()] == ["0000000001"]


def test_a_missing_folder_holds_no_files(tmp_path: Path) -> None:
    assert list(ProxyBodyDirectory(tmp_path / "not-made").files()) == []


@pytest.mark.parametrize("name", ["../precious", "notes.txt", "", "0000000001/..", " 1"])
def test_remove_accepts_only_body_file_names(folder: Path, tmp_path: Path, name: str) -> None:
    (tmp_path / "precious").write_bytes(b"x")
    with pytest.raises(ValueError, match="not a proxy body file name"):
        ProxyBodyDirectory(folder).remove(name)
    assert (tmp_path / "precious").exists()
