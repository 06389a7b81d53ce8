"""Maintenance of the stored files: verify, collect garbage, purge.

The operator's batch actions, with the same rules as the API: a purge
hard-deletes through ``PretrainedModels.hard_delete``, and every file is
removed through ``BlobIndex.collect``, which re-checks the reference count
under a row lock after commit, so nothing a model points at is ever removed.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.clock import Clock
from domain.filters import Compare, FilterSpec
from domain.model import BlobRef, PretrainedModel, Upload
from domain.permissions import Actor, require_admin
from domain.ports import BlobStore, ProxyBodyFolder, StoredBlob, TemporaryFile, UnitOfWork
from domain.services.pretrained_models import PretrainedModels, collect_after_commit
from domain.transfer import CHUNK_SIZE, Progress

# A body file of the proxy's that nobody has written to for this long is left
# over, not an upload in progress: the proxy writes a body as it arrives, and
# removes the file when the request ends, minutes at most after the last byte
# (deploy/nginx.conf gives a client 60 s between two reads and the app 300 s
# to answer). A day leaves room for far slower settings.
PROXY_BODY_MAX_AGE = timedelta(days=1)


@dataclass
class VerifyReport:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)
    miscounted: list[str] = field(default_factory=list)
    temporaries: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [
            *(f"missing: {line}" for line in self.missing),
            *(f"corrupt: {line}" for line in self.corrupt),
            *(f"no model: {line}" for line in self.unreferenced),
            *(f"count: {line}" for line in self.miscounted),
        ]

    @property
    def notes(self) -> list[str]:
        """Harmless but worth knowing: uploads in progress, or left over by a
        crash (``gc`` removes those older than its grace period)."""
        return [f"temporary file: {line}" for line in self.temporaries]


@dataclass
class GcReport:
    """What a collection found; ``removed`` fills in once it has committed."""

    blobs: list[BlobRef] = field(default_factory=list)
    temporaries: list[TemporaryFile] = field(default_factory=list)
    removed: list[BlobRef] = field(default_factory=list)
    # Expired resumable uploads, each as its staging file (named by the upload).
    uploads: list[TemporaryFile] = field(default_factory=list)
    # Upload bodies the proxy in front left in its folder.
    proxy_bodies: list[TemporaryFile] = field(default_factory=list)

    @property
    def reclaimable_bytes(self) -> int:
        """What the files found hold: the bytes a dry run says it would free."""
        return sum(ref.size for ref in self.blobs) + self._temporary_bytes

    @property
    def freed_bytes(self) -> int:
        """What a real run removed: the temporary files at once, the blobs
        once committed (less than ``reclaimable_bytes`` if an upload took
        some bytes back meanwhile)."""
        return sum(ref.size for ref in self.removed) + self._temporary_bytes

    @property
    def _temporary_bytes(self) -> int:
        files = [*self.temporaries, *self.uploads, *self.proxy_bodies]
        return sum(temporary.size for temporary in files)


@dataclass(frozen=True)
class Purged:
    pk: int
    name: str
    deletion_time: datetime
    blob: BlobRef | None


class Maintenance:
    def __init__(
        self,
        uow: UnitOfWork,
        store: BlobStore,
        clock: Clock,
        models: PretrainedModels,
        proxy_bodies: ProxyBodyFolder | None = None,
        proxy_body_max_age: timedelta = PROXY_BODY_MAX_AGE,
    ) -> None:
        """``proxy_bodies``: the folder of a proxy in front that writes upload
        bodies to files (None: there is none); ``gc`` removes its files not
        written to for ``proxy_body_max_age``."""
        self.uow = uow
        self.store = store
        self.clock = clock
        self.models = models
        self.proxy_bodies = proxy_bodies
        self.proxy_body_max_age = proxy_body_max_age

    def verify_total(self, actor: Actor) -> int:
        """How many bytes ``verify`` will read (for a progress bar)."""
        require_admin(actor)
        return sum(ref.size for ref in self._referenced())

    def verify(self, actor: Actor, progress: Progress | None = None) -> VerifyReport:
        """Re-hash every file models point at and compare with the database;
        also report blob files no model points at, reference counts that
        differ from the number of models using the bytes, and staging files."""
        require_admin(actor)
        report = VerifyReport()
        users: dict[str, int] = {}
        for model in self.uow.models.list(FilterSpec(include_inactive=True)):
            if model.data_sha256 is not None:
                users[model.data_sha256] = users.get(model.data_sha256, 0) + 1
        for ref in self._referenced():
            report.checked += 1
            if not self.store.exists(ref):
                report.missing.append(ref.sha256)
                continue
            actual = self._rehash(ref, progress)
            if actual != ref:
                report.corrupt.append(
                    f"{ref.sha256} ({ref.size} bytes) now hashes to "
                    f"{actual.sha256} ({actual.size} bytes)"
                )
        for blob in self.store.stored():
            if blob.ref.sha256 not in users:
                report.unreferenced.append(f"{blob.ref.sha256} ({blob.ref.size} bytes)")
        counts = self.uow.blobs.all()
        for sha256 in sorted(set(counts) | set(users)):
            expected, recorded = users.get(sha256, 0), counts.get(sha256, 0)
            if recorded != expected and (recorded > 0 or expected > 0):
                report.miscounted.append(_miscounted(sha256, recorded, expected))
        report.temporaries = [
            f"{t.name} ({t.size} bytes, modified {t.modified.isoformat()})"
            for t in self.store.temporaries()
        ]
        return report

    def repair_counts(self, actor: Actor) -> list[str]:
        """Set each blob's reference count to the number of models that point
        at it, and collect those left unreferenced after commit; returns what
        was set right. Run it in a short transaction of its own: it holds
        the rows it locks until commit.

        Each blob row is locked (in hash order, as every change takes them)
        before its models are counted: a change of a model's file locks the
        rows it touches before the model changes, so while the row is held
        the count cannot move under the repair, whatever runs beside it.
        """
        require_admin(actor)
        referenced = {ref.sha256: ref for ref in self._referenced()}
        known = {sha256: BlobRef(sha256, 0) for sha256 in self.uow.blobs.all()}
        repaired = []
        for sha256 in sorted(known.keys() | referenced.keys()):
            ref = referenced.get(sha256) or known[sha256]
            recorded = self.uow.blobs.lock(ref)
            expected = self.uow.models.count_holding(sha256)
            if recorded == expected:
                continue
            self.uow.blobs.set_count(ref, expected)
            repaired.append(_miscounted(sha256, recorded, expected))
            if expected == 0:
                collect_after_commit(self.uow, self.store, ref)
        return repaired

    def collect_garbage(self, actor: Actor, grace: timedelta, dry_run: bool = False) -> GcReport:
        """Remove blobs no model references and staging leftovers, both only
        when untouched for ``grace``, expired resumable uploads, and the body
        files a proxy left behind, untouched for ``grace`` and for the
        ``proxy_body_max_age`` given at construction, whichever is longer.

        An upload counts its blob, then renames the file into place and
        commits, so a young unreferenced file may belong to an upload still
        in flight: the grace period spares it. Old ones are given a row with
        a zero count and removed by ``BlobIndex.collect`` after commit, which
        re-checks the count under the row lock an upload would also take.

        A resumable upload's staging file stays while the upload lives,
        however old. An expired upload is deleted under its row lock, checked
        again there (a part may just have moved its expiry), and its staging
        file removed once that has committed: a part racing it then finds
        the upload gone and attaches nothing.
        """
        require_admin(actor)
        now = self.clock.now()
        cutoff = now - grace
        # Staging files first: an upload created after this listing is not in it.
        temporaries = list(self.store.temporaries())
        uploads = {upload.id: upload for upload in self.uow.uploads.all()}
        report = self._expire_uploads(uploads, temporaries, now, dry_run)
        counts = self.uow.blobs.all()
        on_disk: dict[str, StoredBlob] = {b.ref.sha256: b for b in self.store.stored()}
        for sha256, blob in sorted(on_disk.items()):
            if counts.get(sha256, 0) <= 0 and blob.modified <= cutoff:
                report.blobs.append(blob.ref)
        for sha256, count in sorted(counts.items()):
            if count <= 0 and sha256 not in on_disk:
                report.blobs.append(BlobRef(sha256, 0))  # a row without bytes
        report.temporaries = [
            t for t in temporaries if t.modified <= cutoff and t.staged_as not in uploads
        ]
        report.proxy_bodies = self._left_by_the_proxy(now - max(grace, self.proxy_body_max_age))
        if dry_run:
            return report
        for temporary in report.temporaries:
            self.store.remove_temporary(temporary.name)
        if self.proxy_bodies is not None:
            for body in report.proxy_bodies:
                self.proxy_bodies.remove(body.name)
        blobs, store = self.uow.blobs, self.store
        for ref in report.blobs:
            blobs.track(ref)

            def collect(ref: BlobRef = ref) -> None:
                if blobs.collect(ref, store.delete):
                    report.removed.append(ref)

            self.uow.after_commit(collect)
        return report

    def _expire_uploads(
        self,
        uploads: dict[str, Upload],
        temporaries: list[TemporaryFile],
        now: datetime,
        dry_run: bool,
    ) -> GcReport:
        """A report of the expired uploads, deleted unless ``dry_run``."""
        files = {t.staged_as: t for t in temporaries if t.staged_as in uploads}
        report = GcReport()
        for upload in uploads.values():
            if not upload.expired(now):
                continue
            if not dry_run:
                locked = self.uow.uploads.get_for_update(upload.id)
                if locked is None or not locked.expired(now):
                    continue
                self.uow.uploads.delete(locked)
                self.uow.after_commit(functools.partial(self.store.remove_staging, upload.id))
            gone = TemporaryFile(upload.id, 0, upload.expires, upload.id)
            report.uploads.append(files.get(upload.id, gone))
        return report

    def purge(self, actor: Actor, deleted_before: datetime, dry_run: bool = False) -> list[Purged]:
        """Hard-delete the models soft-deleted before ``deleted_before``,
        through the API's hard delete: their files go after commit. A model
        reinstated (or deleted) meanwhile is left alone."""
        require_admin(actor)
        spec = FilterSpec((Compare("deletion_time", "<", deleted_before),), include_inactive=True)
        found = [m for m in self.uow.models.list(spec) if m.pk is not None]
        if not dry_run:

            def still_due(model: PretrainedModel) -> bool:
                return model.deletion_time is not None and model.deletion_time < deleted_before

            found = self.models.hard_delete_many(actor, [m.pk for m in found], only_if=still_due)
        return [Purged(m.pk, m.name, m.deletion_time, m.blob) for m in found]

    # -- helpers ----------------------------------------------------------

    def _left_by_the_proxy(self, cutoff: datetime) -> list[TemporaryFile]:
        """The proxy's body files last written before ``cutoff``: an upload
        still arriving, or one the app is storing, is younger (see
        ``PROXY_BODY_MAX_AGE``)."""
        if self.proxy_bodies is None:
            return []
        return sorted(
            (body for body in self.proxy_bodies.files() if body.modified <= cutoff),
            key=lambda body: body.name,
        )

    def _referenced(self) -> list[BlobRef]:
        """The distinct files models point at, soft-deleted ones included."""
        refs = {
            m.blob.sha256: m.blob
            for m in self.uow.models.list(FilterSpec(include_inactive=True))
            if m.blob is not None
        }
        return [refs[sha] for sha in sorted(refs)]

    def _rehash(self, ref: BlobRef, progress: Progress | None) -> BlobRef:
        digest, size = hashlib.sha256(), 0
        with self.store.open(ref) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
                if progress is not None:
                    progress(len(chunk))
        return BlobRef(digest.hexdigest(), size)


def _miscounted(sha256: str, recorded: int, expected: int) -> str:
    return f"{sha256} is counted {recorded} times but used by {expected} models"
