"""Content-addressed blob store in an S3 bucket (AWS or any S3-compatible server).

Layout in the bucket::

    <prefix>blobs/ab/cd/abcd...     one object per distinct SHA-256, never modified

Bytes are received into a local staging folder (the filesystem store's
staging files, hashed while written and readable while they grow, for the
upstream transfers that other downloads join), then uploaded under their
hash by ``commit``. An S3 object only becomes visible once its PUT (or its
multipart upload) completes, so a blob key only ever names complete bytes.
Processes that share one upstream transfer must share the staging folder.

Resumable uploads (tus) grow part by part in that staging folder too, and
their finished file is streamed into the bucket once, by ``commit``, then
removed: no part is ever an object of its own. So each part of one upload
must reach a server process that sees its staging file. On several machines
either route an upload's requests to one machine (nginx ``hash`` on the
upload's URL), or put the staging folder on a filesystem they share whose
``flock`` holds across machines (NFSv4, CephFS); a part that reaches a
machine without the file is answered 404.

A crash during a large commit can leave an incomplete multipart upload in
the bucket: ``temporaries`` lists those too, and ``remove_temporary``
aborts them, so ``modelhub gc`` removes them like staging leftovers.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, cast

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from adapters.filesystem import FileBlobStore
from domain.errors import NotFound, StorageFull, Unavailable
from domain.model import BlobRef
from domain.ports import BlobStore, StagedBlob, StagingFile, StoredBlob, TemporaryFile
from domain.transfer import CHUNK_SIZE

_SHA256 = re.compile(r"[0-9a-f]{64}")
MULTIPART_PREFIX = "multipart:"
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
# What S3-compatible servers answer when they have no room (or quota) left.
_FULL = ("XMinioStorageFull", "QuotaExceeded", "StorageFull", "InsufficientStorage")


def make_client(
    endpoint: str | None = None, region: str | None = None, max_connections: int = 32
) -> Any:
    """A boto3 S3 client; credentials come from boto3's usual chain (the
    ``AWS_*`` environment variables, the shared files, an instance role)."""
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        max_pool_connections=max_connections,
        retries={"max_attempts": 5, "mode": "standard"},
        # S3-compatible servers on an address of their own expect paths.
        s3={"addressing_style": "path" if endpoint else "auto"},
    )
    session = boto3.session.Session()
    return session.client(
        "s3", endpoint_url=endpoint or None, region_name=region or None, config=config
    )


class S3BlobStore(BlobStore):
    """Blobs as objects of ``bucket`` under ``prefix``, named by their SHA-256."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        staging_dir: str | os.PathLike[str],
        prefix: str = "",
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 blob store needs a bucket")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.staging_dir = Path(staging_dir)
        self.chunk_size = chunk_size
        # Staging is the filesystem store's, in a folder of its own.
        self._staging = FileBlobStore(self.staging_dir, chunk_size, tmp_dir=self.staging_dir)

    # -- staging: local files -------------------------------------------------

    def stage(
        self, stream: BinaryIO, max_size: int | None = None, name: str | None = None
    ) -> StagedBlob:
        """Copy ``stream`` into a local staging file, hashing it (``TooLarge``
        and ``StorageFull`` as in the filesystem store)."""
        return self._staging.stage(stream, max_size, name)

    def open_staging(self, name: str) -> BinaryIO:
        return self._staging.open_staging(name)

    def begin_staging(self, name: str) -> None:
        self._staging.begin_staging(name)

    def resume_staging(self, name: str) -> contextlib.AbstractContextManager[StagingFile]:
        """The local staging file, locked as the filesystem store locks it;
        ``finish`` hashes it there, ``commit`` uploads it."""
        return self._staging.resume_staging(name)

    def remove_staging(self, name: str) -> None:
        self._staging.remove_staging(name)

    def check(self) -> str | None:
        """The bucket answers, and the local staging folder takes a file."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as error:  # any failure: the bucket cannot take a file now
            return f"the bucket does not answer ({type(error).__name__})"
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        problem = self._staging.check()
        return None if problem is None else problem.replace("blob folder", "staging folder")

    def discard(self, staged: StagedBlob) -> None:
        self._staging.discard(staged)

    def commit(self, staged: StagedBlob) -> BlobRef:
        """Upload the staged bytes under their hash unless they are stored
        already, then remove the staging file. Idempotent."""
        temp = Path(staged.handle)
        if self.exists(staged.ref):
            temp.unlink(missing_ok=True)
            return staged.ref
        if not temp.exists():
            raise FileNotFoundError(
                f"staged upload {temp.name} was discarded before being committed"
            )
        with _s3_errors():
            # upload_file sends large files as a multipart upload; either way
            # the object appears whole, or not at all.
            self.client.upload_file(str(temp), self.bucket, self._key(staged.ref))
        temp.unlink(missing_ok=True)
        return staged.ref

    # -- stored blobs ---------------------------------------------------------

    def open(self, ref: BlobRef) -> BinaryIO:
        """The object as a seekable file read with ranged GETs."""
        key = self._key(ref)
        head = self._head(key)
        if head is None:
            raise NotFound(f"The file {ref.sha256} is missing from the store.")
        return cast(
            BinaryIO,
            S3ObjectFile(self.client, self.bucket, key, head["ContentLength"], head.get("ETag")),
        )

    def exists(self, ref: BlobRef) -> bool:
        return self._head(self._key(ref)) is not None

    def delete(self, ref: BlobRef) -> None:
        with _s3_errors():
            self.client.delete_object(Bucket=self.bucket, Key=self._key(ref))

    def stored(self) -> Iterator[StoredBlob]:
        blobs = self.prefix + "blobs/"
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=blobs
        )
        with _s3_errors():
            for page in pages:
                for item in page.get("Contents", ()):
                    parts = item["Key"][len(blobs) :].split("/")
                    if len(parts) != 3:
                        continue
                    fan1, fan2, sha = parts
                    if not (_SHA256.fullmatch(sha) and sha[:2] == fan1 and sha[2:4] == fan2):
                        continue
                    yield StoredBlob(BlobRef(sha, item["Size"]), item["LastModified"])

    def temporaries(self) -> Iterator[TemporaryFile]:
        """The local staging files, then the bucket's incomplete multipart
        uploads under the prefix (named ``multipart:<key>:<upload id>``)."""
        yield from self._staging.temporaries()
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix + "blobs/"
        )
        with _s3_errors():
            for page in pages:
                for upload in page.get("Uploads", ()):
                    key, upload_id = upload["Key"], upload["UploadId"]
                    yield TemporaryFile(
                        f"{MULTIPART_PREFIX}{key}:{upload_id}",
                        self._uploaded_size(key, upload_id),
                        upload["Initiated"],
                    )

    def remove_temporary(self, name: str) -> None:
        if not name.startswith(MULTIPART_PREFIX):
            self._staging.remove_temporary(name)
            return
        key, sep, upload_id = name[len(MULTIPART_PREFIX) :].rpartition(":")
        if not sep or not key.startswith(self.prefix + "blobs/"):
            raise ValueError(f"not a multipart upload of this store: {name!r}")
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if _code(exc) != "NoSuchUpload":
                raise Unavailable("The file store cannot be reached.") from exc

    def public_url(self, ref: BlobRef, filename: str, expires: timedelta) -> str | None:
        """A presigned GET of the object, valid for ``expires``."""
        return cast(
            str,
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self._key(ref),
                    "ResponseContentType": "application/octet-stream",
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                },
                ExpiresIn=max(1, int(expires.total_seconds())),
            ),
        )

    # -- helpers --------------------------------------------------------------

    def _key(self, ref: BlobRef) -> str:
        sha = ref.sha256
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise ValueError(f"not a lowercase hex SHA-256: {sha!r}")
        return f"{self.prefix}blobs/{sha[:2]}/{sha[2:4]}/{sha}"

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self.client.head_object(Bucket=self.bucket, Key=key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise Unavailable("The file store cannot be reached.") from exc
        except BotoCoreError as exc:
            raise Unavailable("The file store cannot be reached.") from exc

    def _uploaded_size(self, key: str, upload_id: str) -> int:
        try:
            pages = self.client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            )
            return sum(part["Size"] for page in pages for part in page.get("Parts", ()))
        except ClientError:
            return 0  # completed or aborted meanwhile


class S3ObjectFile(io.RawIOBase):
    """A read-only, seekable view of one object, read with ranged GETs.

    Sequential reads share one streaming GET from the current position; a
    seek elsewhere ends it and the next read starts another. The bytes of
    the last read are kept, so reading a block, seeking back into it and
    reading on (as waitress sends a file) costs no new request. Memory stays
    at about one read's size whatever the object's.
    """

    # Reads wait on the network: the web layer keeps them off the server's
    # I/O loop (see ``entrypoints.web.downloads``).
    remote = True

    def __init__(
        self, client: Any, bucket: str, key: str, size: int, etag: str | None = None
    ) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.size = size
        self.etag = etag
        self._pos = 0
        self._body: Any = None
        self._body_pos = 0
        self._last = b""
        self._last_start = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("read of a closed file")
        end = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        if self._pos >= end:
            return b""
        parts = []
        pos = self._pos
        last_end = self._last_start + len(self._last)
        if self._last_start <= pos < last_end:
            part = self._last[pos - self._last_start : end - self._last_start]
            parts.append(part)
            pos += len(part)
        if pos < end:
            parts.append(self._fetch(pos, end - pos))
        data = b"".join(parts)
        self._last, self._last_start = data, self._pos
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)

    def close(self) -> None:
        self._drop_body()
        self._last = b""
        super().close()

    def _fetch(self, pos: int, count: int) -> bytes:
        """``count`` bytes from ``pos``, by the streaming GET (one is opened
        at ``pos`` unless the current one is there)."""
        if self._body is None or self._body_pos != pos:
            self._drop_body()
            params: dict[str, Any] = {
                "Bucket": self.bucket,
                "Key": self.key,
                "Range": f"bytes={pos}-",
            }
            if self.etag:
                params["IfMatch"] = self.etag
            try:
                response = self.client.get_object(**params)
            except ClientError as exc:
                if _code(exc) in _MISSING:
                    raise NotFound(f"The file {self.key} is gone from the store.") from exc
                raise Unavailable("The file store cannot be reached.") from exc
            self._body, self._body_pos = response["Body"], pos
        chunks, got = [], 0
        while got < count:
            chunk = self._body.read(count - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        self._body_pos += got
        if got < count:
            self._drop_body()
            raise OSError(f"{self.key} ended after {pos + got} of {self.size} bytes")
        return b"".join(chunks)

    def _drop_body(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _s3_errors:
    """S3 that cannot be reached or refuses is ``Unavailable`` (503)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if isinstance(exc, ClientError | BotoCoreError | S3UploadFailedError):
            if any(code in str(exc) for code in _FULL):
                raise StorageFull() from exc
            raise Unavailable("The file store cannot be reached.") from exc
        return False
