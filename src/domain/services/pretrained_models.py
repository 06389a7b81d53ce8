"""Pretrained models: CRUD, soft delete, reinstate, hard delete and files."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from domain.clock import Clock
from domain.errors import (
    Conflict,
    Gone,
    Invalid,
    NotFound,
    SourceUnavailable,
    TooLarge,
    UnsupportedFileType,
)
from domain.fields import Field
from domain.filters import FilterSpec, IsNull, parse_filter
from domain.model import BlobRef, PretrainedModel
from domain.paging import Page
from domain.permissions import Actor, is_admin, is_system, require_admin, require_authenticated
from domain.ports import BlobStore, StagedBlob, UnitOfWork
from domain.records import ModelRecord
from domain.resources import PRETRAINED_MODEL
from domain.search import ModelSearch
from domain.services._base import existing
from domain.services.licences import find_licence
from domain.services.upstream import Arriving, Transfers, fetchable
from domain.transfer import Progress
from domain.validation import read_body

EMPTY_FILE = "The submitted file is empty."


@dataclass
class Download:
    """A model file ready to be streamed: stored (``ref`` and an open
    ``file``), or arriving from upstream (``arriving``)."""

    model: PretrainedModel
    ref: BlobRef | None
    file: BinaryIO | None
    arriving: Arriving | None = None


class PretrainedModels:
    def __init__(
        self,
        uow: UnitOfWork,
        store: BlobStore,
        clock: Clock,
        max_file_size: int | None = None,
        transfers: Transfers | None = None,
    ) -> None:
        self.uow = uow
        self.store = store
        self.clock = clock
        self.max_file_size = max_file_size
        self.transfers = transfers

    # -- metadata ---------------------------------------------------------

    def list(self, actor: Actor, raw_filter: Any = None) -> list[PretrainedModel]:
        """Models matching the filter; soft-deleted ones only on request."""
        return self.uow.models.list(self._listed(actor, raw_filter))

    def list_records(self, actor: Actor, raw_filter: Any = None) -> list[ModelRecord]:
        """What ``list`` finds, as records: what a client is shown."""
        return self.uow.models.records(self._listed(actor, raw_filter))

    def search(self, actor: Actor, search: ModelSearch) -> Page[PretrainedModel]:
        """One page of the catalogue as a person searches it; soft-deleted
        models are found by admins only."""
        user = require_authenticated(actor)
        return self.uow.models.page(search.spec(may_see_deleted=is_admin(user)), search.page)

    def retrieve(self, actor: Actor, pk: int) -> PretrainedModel:
        require_authenticated(actor)
        return self._get(pk)

    def retrieve_record(self, actor: Actor, pk: int) -> ModelRecord:
        """What ``retrieve`` finds, as a record: what a client is shown."""
        require_authenticated(actor)
        return existing(self.uow.models.record(pk))

    def authorise_change(self, actor: Actor) -> None:
        """Raise unless ``actor`` may create and change models (a form asks
        before it is shown)."""
        require_admin(actor)

    def for_change(self, actor: Actor, pk: int, *, writable: bool = True) -> PretrainedModel:
        """The model, for an admin about to change it; with ``writable``, one
        that is not soft-deleted (read-only until reinstated: ``Conflict``)."""
        require_admin(actor)
        return self._get_writable(pk) if writable else self._get(pk)

    def create(
        self, actor: Actor, data: Mapping[str, Any], *, pk: int | None = None
    ) -> PretrainedModel:
        """A new model; with ``pk`` (free), under that pk (a migration's)."""
        user = require_admin(actor)
        values = self._read(data, partial=False, creating=True)
        model = PretrainedModel(
            **values,
            creator=None if is_system(user) else user,
            creation_time=self.clock.now(),
            pk=pk,
        )
        self.uow.models.add(model)
        return model

    def update(
        self, actor: Actor, pk: int, data: Mapping[str, Any], partial: bool = False
    ) -> PretrainedModel:
        """Full (PUT) or partial (PATCH) update of the writable fields."""
        require_admin(actor)
        model = self._locked_writable(pk)
        values = self._read(data, partial)
        upstream = (model.source, model.source_sha256)
        for name, value in values.items():
            setattr(model, name, value)
        if (model.source, model.source_sha256) != upstream:
            model.clear_fetch()  # another file upstream: start afresh
        return model

    def soft_delete(self, actor: Actor, pk: int) -> None:
        """Flag the model deleted; doing it again changes nothing."""
        require_admin(actor)
        model = self._locked(pk)
        if not model.is_deleted:
            model.deletion_time = self.clock.now()

    def reinstate(self, actor: Actor, pk: int) -> PretrainedModel:
        require_admin(actor)
        model = self._locked(pk)
        model.deletion_time = None
        return model

    def hard_delete(self, actor: Actor, pk: int) -> PretrainedModel:
        """Remove the record for good and release its file after commit.

        A second hard delete of the same model, even one racing this one,
        finds nothing: ``NotFound``.
        """
        (model,) = self.hard_delete_many(actor, [pk])
        return model

    def hard_delete_many(
        self,
        actor: Actor,
        pks: Iterable[int],
        only_if: Callable[[PretrainedModel], bool] | None = None,
    ) -> list[PretrainedModel]:
        """Hard-delete several models at once (all or none); returns them.

        The rows are locked in pk order and the files released in hash order,
        the orders every change takes, so concurrent changes never deadlock.
        With ``only_if``, the models are those of ``pks`` that still exist
        and pass it once locked (a batch's choice, made before, re-checked).
        """
        require_admin(actor)
        if only_if is None:
            models = [self._locked(pk) for pk in sorted(set(pks))]
        else:
            locked = (self.uow.models.get_for_update(pk) for pk in sorted(set(pks)))
            models = [m for m in locked if m is not None and only_if(m)]
        self._rereference(None, [m.blob for m in models])
        for model in models:
            self.uow.models.delete(model)
        return models

    # -- files ------------------------------------------------------------

    def set_file(
        self,
        actor: Actor,
        pk: int,
        stream: BinaryIO,
        declared_size: int | None = None,
        *,
        expected_sha256: str | None = None,
        replace_identical: bool = True,
    ) -> PretrainedModel:
        """Attach the bytes read from ``stream``, replacing any previous file.

        ``declared_size`` is the least the file can weigh, as the request
        says; over the limit, it is refused before a byte is read.

        The model is checked before the bytes are read (an upload to a model
        that cannot take it is refused at once), and the unit of work is
        paused meanwhile, so a long upload holds no database connection.
        Then ``attach_staged`` attaches them.
        """
        self.admit_file(actor, pk, declared_size)
        self.uow.pause()
        staged = self.store.stage(stream, self.max_file_size)
        return self.attach_staged(
            actor,
            pk,
            staged,
            expected_sha256=expected_sha256,
            replace_identical=replace_identical,
        )

    def admit_file(self, actor: Actor, pk: int, least_size: int | None) -> PretrainedModel:
        """Whether ``actor`` may attach a file of at least ``least_size``
        bytes to model ``pk`` now: the checks made before any byte is
        received (admin, a model that is not soft-deleted, the size limit)."""
        require_admin(actor)
        model = self._get_writable(pk)
        limit = self.max_file_size
        if limit is not None and least_size is not None and least_size > limit:
            raise TooLarge.over_limit(limit)
        return model

    def attach_staged(
        self,
        actor: Actor,
        pk: int,
        staged: StagedBlob,
        *,
        expected_sha256: str | None = None,
        replace_identical: bool = True,
    ) -> PretrainedModel:
        """Attach bytes staged in the store (and hashed by it) to model
        ``pk``, replacing any previous file: the one attach step of every
        way a file arrives. Refused, the staged bytes are discarded.

        The checks are made again (admin, model, size, not empty): the model
        may have changed while the bytes came. The bytes become visible under
        their hash before the model points at them, under the model's row
        lock, and the previous file is released only after commit, so a
        download never sees a partial or mixed file.

        With ``expected_sha256`` (an import's declared digest), bytes that
        hash otherwise are discarded before anything is stored. With
        ``replace_identical=False``, bytes equal to the file the model already
        has (and that is present) leave the model as it is.
        """
        try:
            require_admin(actor)
            limit = self.max_file_size
            if limit is not None and staged.ref.size > limit:
                raise TooLarge.over_limit(limit)
            if staged.ref.size == 0:
                raise Invalid(EMPTY_FILE)
            if expected_sha256 is not None and staged.ref.sha256 != expected_sha256.lower():
                raise Invalid.field(
                    "sha256",
                    f"The file's SHA-256 is {staged.ref.sha256}, not {expected_sha256}.",
                )
            model = self._locked_writable(pk)
            if not replace_identical and staged.ref == model.blob and self.store.exists(staged.ref):
                self.store.discard(staged)
                return model
            # The new blob's row is locked from here until commit, so a
            # collection of the same bytes cannot remove them under this upload.
            previous = model.blob
            self._rereference(staged.ref, [previous])
            ref = self.store.commit(staged)
        except BaseException:
            self.store.discard(staged)
            raise
        model.attach(ref, self.clock.now())
        model.clear_fetch()  # a transfer still running is abandoned
        return model

    def delete_file(self, actor: Actor, pk: int) -> PretrainedModel:
        """Detach the file; a model without one is left as it is."""
        require_admin(actor)
        model = self._locked_writable(pk)
        if model.blob is not None:
            self._rereference(None, [model.blob])
            model.attach(None, None)
            model.clear_fetch()  # with a source, the next download fetches it again
        return model

    def download(
        self,
        actor: Actor,
        pk: int,
        filetype: Any = None,
        params: Any = None,
    ) -> Download:
        """Open the model's file for reading."""
        require_authenticated(actor)
        if filetype is not None and filetype != "data":
            raise UnsupportedFileType(
                f"Unsupported file type {filetype!r}: only 'data' is available."
            )
        check_download_params(params)
        model = self._get(pk)
        if model.is_deleted:
            raise Gone("This pretrained model has been deleted.")
        if model.blob is None and model.source is not None and self.transfers is not None:
            self.uow.pause()  # waiting for upstream holds no database connection
            arriving = self.transfers.open(pk)
            if arriving is not None:
                return Download(model, None, None, arriving)
            model = self._get(pk)  # stored meanwhile: read it as it is now
        ref = model.blob
        if ref is None:
            raise NotFound("This pretrained model has no file.")
        return Download(model, ref, self.store.open(ref))

    def fetch(self, actor: Actor, pk: int) -> tuple[PretrainedModel, bool]:
        """Start the upstream transfer of a model's file without a client,
        a failed one too; the model, and whether its file is stored already."""
        require_admin(actor)
        model = self._get(pk)
        fetchable(model)
        if model.blob is not None:
            return model, True
        if self.transfers is None:
            raise SourceUnavailable("This registry fetches no upstream files.")
        self.transfers.claim(pk, retry=True)
        self.uow.pause()
        model = self._get(pk)
        return model, model.blob is not None

    def fetch_and_wait(
        self, actor: Actor, pk: int, progress: Progress | None = None
    ) -> PretrainedModel:
        """``fetch``, then follow the transfer (whichever process runs it)
        until the file is stored; ``progress`` hears of each chunk."""
        model, stored = self.fetch(actor, pk)
        if stored or self.transfers is None:
            return model
        arriving = self.transfers.open(pk)
        if arriving is not None:
            for chunk in arriving.read():
                if progress is not None:
                    progress(len(chunk))
        self.uow.pause()
        return self._get(pk)

    def awaiting_fetch(self, actor: Actor) -> list[PretrainedModel]:
        """The active models whose file is upstream, not stored yet."""
        waiting = {"type": "exact", "field": "data_state", "value": "remote"}
        running = {**waiting, "value": "fetching"}
        spec = {"expressions": [{"type": "or", "sub_expressions": [waiting, running]}]}
        return self.list(actor, spec)

    # -- helpers ----------------------------------------------------------

    def _listed(self, actor: Actor, raw_filter: Any) -> FilterSpec:
        require_authenticated(actor)
        spec = parse_filter(raw_filter, PRETRAINED_MODEL.filters)
        if not spec.include_inactive:
            spec = spec.narrowed(IsNull("deletion_time"))
        return spec

    def _get(self, pk: int) -> PretrainedModel:
        return existing(self.uow.models.get(pk))

    def _get_writable(self, pk: int) -> PretrainedModel:
        model = self._get(pk)
        _check_writable(model)
        return model

    def _locked(self, pk: int) -> PretrainedModel:
        """The model, its row locked until the unit of work ends."""
        return existing(self.uow.models.get_for_update(pk))

    def _locked_writable(self, pk: int) -> PretrainedModel:
        model = self._locked(pk)
        _check_writable(model)
        return model

    def _rereference(self, new: BlobRef | None, released: Iterable[BlobRef | None]) -> None:
        """Count one more reference to ``new`` and one less to each of
        ``released``, touching the blob rows in hash order (so two changes
        that swap files never wait for each other's rows); each released blob
        is collected after commit if nothing references it then."""
        changes = [(ref, -1) for ref in released if ref is not None]
        if new is not None:
            changes.append((new, +1))
        blobs = self.uow.blobs
        for ref, change in sorted(changes, key=lambda item: (item[0].sha256, -item[1])):
            if change > 0:
                blobs.acquire(ref)
            else:
                blobs.release(ref)
                collect_after_commit(self.uow, self.store, ref)

    def _read(
        self, data: Mapping[str, Any], partial: bool, creating: bool = False
    ) -> dict[str, Any]:
        values, errors = read_body(
            PRETRAINED_MODEL, data, partial=partial, creating=creating, lookup=self._record
        )
        errors.raise_if_any()
        return values

    def _record(self, field: Field, key: Any) -> Any:
        """The framework (by pk), domain or licence (by name or alias) a body names."""
        finders = {
            "framework": self.uow.frameworks.get,
            "domain": self.uow.domains.get_by_name,
            "licence": functools.partial(find_licence, self.uow.licences),
        }
        return finders[field.name](key)


def collect_after_commit(uow: UnitOfWork, store: BlobStore, ref: BlobRef) -> None:
    """Once the unit of work has committed, remove the bytes of ``ref`` if
    nothing references them then (``BlobIndex.collect``)."""
    uow.after_commit(functools.partial(uow.blobs.collect, ref, store.delete))


def _check_writable(model: PretrainedModel) -> None:
    if model.is_deleted:
        raise Conflict("This pretrained model is deleted and read-only; reinstate it first.")


def check_download_params(params: Any) -> None:
    """``params`` maps strings to strings or lists of strings; it is ignored."""
    if params is None:
        return
    ok = isinstance(params, Mapping) and all(
        isinstance(key, str)
        and (
            isinstance(value, str)
            or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        )
        for key, value in params.items()
    )
    if not ok:
        raise Invalid(fields={"params": ["Must map strings to strings or lists of strings."]})
