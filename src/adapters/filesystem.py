"""Content-addressed blob store on a local filesystem.

Layout under ``root``::

    blobs/ab/cd/abcd...      one file per distinct SHA-256, never modified
    tmp/upload-<hex>.part    uploads being received (leftovers after a crash),
                             and resumable uploads growing part by part

Bytes are streamed into ``tmp/``, hashed while written and fsynced, then
renamed into ``blobs/``. A ``SpooledFile`` (a body a proxy in front already
wrote to disk) is hard-linked into ``tmp/`` and hashed there instead, so its
bytes are written once. A rename within one filesystem is atomic, so a blob
name only ever points at complete bytes whatever moment a crash happens.
Both folders must therefore live on the same filesystem (they share ``root``).

Blob files are never rewritten in place: a reader that opened one keeps
reading the same inode even if the blob is deleted meanwhile.

``ProxyBodyDirectory`` is the folder where nginx writes the bodies of uploads
(``modelhub.proxy_body_dir``), as ``modelhub gc`` sees it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from adapters.staging_files import StagingLocks, no_space_is_full
from domain.errors import NotFound, TooLarge
from domain.model import BlobRef
from domain.ports import (
    BlobStore,
    FileSink,
    ProxyBodyFolder,
    StagedBlob,
    StagingFile,
    StoredBlob,
    TemporaryFile,
)
from domain.transfer import CHUNK_SIZE, SpooledFile

TEMP_PREFIX = "upload-"
TEMP_SUFFIX = ".part"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"[0-9a-f]+" + re.escape(TEMP_SUFFIX))
# nginx's name for a body file of its client_body_temp_path: digits.
PROXY_BODY_NAME = re.compile(r"[0-9]+")


class FileBlobStore(BlobStore):
    """Blobs as files under ``root``, named by their SHA-256."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        chunk_size: int = CHUNK_SIZE,
        tmp_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """``tmp_dir`` (default ``root/tmp``) holds the staging files; it must be
        on the filesystem of ``root`` for ``commit`` to rename them."""
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, not {chunk_size}")
        self.root = Path(root)
        self.blob_dir = self.root / "blobs"
        self.tmp_dir = Path(tmp_dir) if tmp_dir is not None else self.root / "tmp"
        self.chunk_size = chunk_size
        self._locks = StagingLocks(chunk_size)

    # -- BlobStore ----------------------------------------------------------

    def stage(
        self, stream: BinaryIO, max_size: int | None = None, name: str | None = None
    ) -> StagedBlob:
        """Copy ``stream`` chunk by chunk into a fsynced temporary file.

        Raises ``TooLarge`` as soon as more than ``max_size`` bytes arrived.
        On any error the temporary file is removed and the error propagates.
        Each chunk is written through at once, for readers of ``open_staging``.
        A ``SpooledFile`` is linked rather than copied where it can be.
        """
        if isinstance(stream, SpooledFile):
            adopted = self._adopt(stream, max_size, name)
            if adopted is not None:
                return adopted
        with no_space_is_full():
            path, fd = self._create_temp(name)
        digest = hashlib.sha256()
        size = 0
        try:
            with no_space_is_full(), os.fdopen(fd, "wb") as out:
                while chunk := stream.read(self.chunk_size):
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise TooLarge.over_limit(max_size)
                    digest.update(chunk)
                    out.write(chunk)
                    out.flush()
                os.fsync(out.fileno())
        except BaseException:
            _unlink(path)
            raise
        return StagedBlob(BlobRef(digest.hexdigest(), size), str(path))

    def _adopt(
        self, spooled: SpooledFile, max_size: int | None, name: str | None
    ) -> StagedBlob | None:
        """Hard-link ``spooled`` into the staging folder, then hash and fsync
        it there. None, with nothing kept, when it cannot be linked (another
        filesystem, another owner): the caller then copies it."""
        size = os.fstat(spooled.file.fileno()).st_size
        if max_size is not None and size > max_size:
            raise TooLarge.over_limit(max_size)
        with no_space_is_full():
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        path = self.tmp_dir / _temp_name(name or secrets.token_hex(16))
        try:
            os.link(spooled.path, path, follow_symlinks=False)
        except OSError:
            return None
        try:
            linked = os.stat(path)
            opened = os.fstat(spooled.file.fileno())
            if (linked.st_dev, linked.st_ino) != (opened.st_dev, opened.st_ino):
                _unlink(path)  # the name was reused meanwhile: not our file
                return None
            try:
                # As a staged file is made; a proxy makes its own owner-only.
                os.chmod(path, 0o666 & ~_umask())
            except PermissionError:
                _unlink(path)
                return None
            spooled.file.seek(0)
            digest = hashlib.file_digest(spooled.file, "sha256")  # type: ignore[arg-type]
            size = spooled.file.tell()
            with no_space_is_full():
                os.fsync(spooled.file.fileno())
        except BaseException:
            _unlink(path)
            raise
        return StagedBlob(BlobRef(digest.hexdigest(), size), str(path))

    def begin_staging(self, name: str) -> None:
        with no_space_is_full():
            _path, fd = self._create_temp(name)
        os.close(fd)

    def resume_staging(self, name: str) -> contextlib.AbstractContextManager[StagingFile]:
        """The staging file locked by ``flock`` (see ``adapters.staging_files``):
        the lock holds across processes that share the folder."""
        return self._locks.hold(self.tmp_dir / _temp_name(name))

    def remove_staging(self, name: str) -> None:
        _unlink(self.tmp_dir / _temp_name(name))

    def commit(self, staged: StagedBlob) -> BlobRef:
        """Move staged bytes under their hash, or drop them if already stored.

        Idempotent: committing the same staged blob again returns its ref.
        """
        temp = Path(staged.handle)
        final = self._blob_path(staged.ref)
        if final.exists():
            # Identical bytes are stored once; the existing file (and the
            # inode its readers hold) stays as it is.
            _unlink(temp)
            return staged.ref
        if not temp.exists():
            raise FileNotFoundError(
                f"staged upload {temp.name} was discarded before being committed"
            )
        with no_space_is_full():
            _make_dirs(final.parent)
        # Two concurrent commits of the same bytes may both get here; the
        # second rename then swaps in an identical file, which open readers
        # never notice since they hold the old inode.
        os.replace(temp, final)
        _fsync_dir(final.parent)
        return staged.ref

    def discard(self, staged: StagedBlob) -> None:
        """Remove the staged bytes; nothing happens if they are already gone."""
        _unlink(Path(staged.handle))

    def open_staging(self, name: str) -> BinaryIO:
        try:
            return open(self.tmp_dir / _temp_name(name), "rb")
        except FileNotFoundError:
            raise NotFound("The file being fetched is gone.") from None

    def open(self, ref: BlobRef) -> BinaryIO:
        """The blob opened for binary reading; raises ``NotFound`` if absent."""
        try:
            return open(self._blob_path(ref), "rb")
        except FileNotFoundError:
            raise NotFound(f"The file {ref.sha256} is missing from the store.") from None

    def exists(self, ref: BlobRef) -> bool:
        return self._blob_path(ref).is_file()

    def delete(self, ref: BlobRef) -> None:
        """Remove the blob (a no-op if absent); open readers keep their bytes.

        Empty fan-out folders are kept: removing one could race with a
        commit that has just created it for another blob.
        """
        _unlink(self._blob_path(ref))

    def stored(self) -> Iterator[StoredBlob]:
        """Every ``blobs/ab/cd/abcd...`` file, named by its hash (not re-hashed)."""
        for fan1 in _entries(self.blob_dir):
            for fan2 in _entries(Path(fan1.path)):
                for entry in _entries(Path(fan2.path)):
                    name = entry.name
                    if not (
                        _SHA256.fullmatch(name) and name[:2] == fan1.name and name[2:4] == fan2.name
                    ):
                        continue
                    try:
                        stat = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # deleted meanwhile
                    yield StoredBlob(BlobRef(name, stat.st_size), _utc(stat.st_mtime))

    def temporaries(self) -> Iterator[TemporaryFile]:
        for path, _mtime in self.temporary_files():
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                continue
            name = os.path.basename(path)
            staged_as = name.removeprefix(TEMP_PREFIX).removesuffix(TEMP_SUFFIX)
            yield TemporaryFile(name, stat.st_size, _utc(stat.st_mtime), staged_as)

    def remove_temporary(self, name: str) -> None:
        if not _TEMP_NAME.fullmatch(name):
            raise ValueError(f"not a staging file name: {name!r}")
        _unlink(self.tmp_dir / name)

    def check(self) -> str | None:
        """The root must be a folder already (a missing one may be a volume
        not mounted: never made here) in which a file can be created."""
        if not self.root.is_dir():
            return "the blob folder does not exist"
        probe = self.root / f".check-{secrets.token_hex(8)}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
            try:
                os.write(fd, b"ok")
            finally:
                os.close(fd)
            probe.unlink()
        except OSError as error:
            with contextlib.suppress(OSError):
                _unlink(probe)
            code = errno.errorcode.get(error.errno or 0, "error")
            return f"the blob folder is not writable ({code})"
        return None

    # -- filesystem extras --------------------------------------------------

    def temporary_files(self) -> Iterator[tuple[str, float]]:
        """``(path, mtime)`` of every staging file, for a garbage collector.

        Includes uploads still in progress: callers compare the mtime with a
        grace period before removing anything.
        """
        try:
            entries = list(os.scandir(self.tmp_dir))
        except FileNotFoundError:
            return
        for entry in entries:
            if not _TEMP_NAME.fullmatch(entry.name):
                continue
            try:
                mtime = entry.stat(follow_symlinks=False).st_mtime
            except FileNotFoundError:
                continue  # committed or discarded meanwhile
            yield entry.path, mtime

    def blob_name(self, ref: BlobRef) -> str:
        """The blob's path under ``blobs/`` (``ab/cd/abcd...``), as a web
        server that sends the files itself (nginx's X-Accel-Redirect) names it."""
        return self._blob_path(ref).relative_to(self.blob_dir).as_posix()

    # -- helpers ------------------------------------------------------------

    def _blob_path(self, ref: BlobRef) -> Path:
        sha = ref.sha256
        # The hash becomes a path: refuse anything that could climb out of root.
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise ValueError(f"not a lowercase hex SHA-256: {sha!r}")
        return self.blob_dir / sha[:2] / sha[2:4] / sha

    def _create_temp(self, name: str | None = None) -> tuple[Path, int]:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        while True:
            path = self.tmp_dir / _temp_name(name or secrets.token_hex(16))
            try:
                # Not tempfile.mkstemp: its 0o600 would ignore the umask, and
                # the web server may run as another user than the CLI scripts.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
            except FileExistsError:
                if name is not None:
                    raise
                continue  # pragma: no cover - 128 random bits
            return path, fd


def _temp_name(name: str) -> str:
    """The staging file of ``name``; a name must be lowercase hex."""
    if not re.fullmatch(r"[0-9a-f]+", name):
        raise ValueError(f"not a staging name: {name!r}")
    return f"{TEMP_PREFIX}{name}{TEMP_SUFFIX}"


_O_BINARY = getattr(os, "O_BINARY", 0)


def _umask() -> int:
    """This process's umask, read without changing it (Linux); else 0o022."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


class DirectorySink(FileSink):
    """Exported files in one folder, each written whole before it is named."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def write(self, name: str, stream: BinaryIO) -> str:
        if not name or os.sep in name or name.startswith("."):
            raise ValueError(f"not a plain file name: {name!r}")
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / name
        temp = self.folder / f".{name}.{secrets.token_hex(8)}.part"
        try:
            with open(temp, "wb") as out:
                shutil.copyfileobj(stream, out, CHUNK_SIZE)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, final)
        except BaseException:
            _unlink(temp)
            raise
        return str(final.absolute())


class ProxyBodyDirectory(ProxyBodyFolder):
    """The folder nginx writes upload bodies to (its ``client_body_temp_path``,
    without ``levels``): the files named by digits directly in it. Nothing
    else in the folder is listed or removed."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def files(self) -> Iterator[TemporaryFile]:
        for entry in _entries(self.folder):
            if not (PROXY_BODY_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)):
                continue
            try:
                status = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # its request ended meanwhile
            yield TemporaryFile(entry.name, status.st_size, _utc(status.st_mtime))

    def remove(self, name: str) -> None:
        if not PROXY_BODY_NAME.fullmatch(name):
            raise ValueError(f"not a proxy body file name: {name!r}")
        _unlink(self.folder / name)


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        return sorted(os.scandir(folder), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _utc(mtime: float) -> datetime:
    return datetime.fromtimestamp(mtime, UTC)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _make_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents, making each new entry durable."""
    if path.is_dir():
        return
    _make_dirs(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return  # created concurrently
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    """Make renames and creations in ``path`` survive a power loss."""
    if not hasattr(os, "O_DIRECTORY"):  # pragma: no cover - Windows cannot
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
