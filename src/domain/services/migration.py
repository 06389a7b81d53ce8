"""Migration: copy the licences, frameworks and pretrained models of a running
UFDL (or modelhub) server into this registry.

The source is read through its API (``SourceServer``); every record is
written through the same service calls as the API's, so a record that breaks
a rule fails with the API's own message, and the others go on.

- Order: licences, then frameworks, then models (which name both).
- Matching: a record is the one here with the same natural key
  (``Resource.key``: a licence's name, a framework's name and version, a
  model's name and framework). It is updated to the source's fields, and one
  that already equals them is left alone, so running a migration again
  changes nothing.
- Pks: a new record keeps the source's pk, which UFDL job templates and
  scripts refer to, unless a *different* record holds that pk here (the pk is
  taken): such a record waits until every record of its kind whose pk is free
  has been added, then takes a fresh pk, and the result reports both. A
  record matched by its key keeps the pk it has here, reported when it
  differs from the source's.
- Models: every writable field the source shows (its ``source`` and
  ``source_sha256`` only if it shows them), the domain mapped back from its
  description to its name, the creation time, the creator when a user of
  that name exists here (a source that does not show its users gives none),
  the soft-deleted state (with the source's deletion time) and the file.
- Files: streamed from the source and stored with the SHA-256 it shows, if
  any; a file held here with that digest already is not fetched again (a
  source that shows no digest has its file fetched and compared). A model
  whose file cannot be fetched is migrated without it, and the result says
  why. Servers serve no file of a soft-deleted model: for such a model a
  file that cannot be fetched is reported, not counted as a failure.

Each step runs in a transaction of its own, which the caller commits (or
aborts when the step raises); the plan remembers what spans the steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from domain.errors import DomainError, Invalid, SourceUnavailable, StorageFull, TooLarge
from domain.fields import Resource
from domain.filters import Exact, FilterSpec, parse_timestamp
from domain.model import INT_MAX, SUBDESCRIPTOR_TYPES, Framework, Licence, PretrainedModel, User
from domain.permissions import Actor, require_admin
from domain.ports import BlobStore, Repository, SourceServer, UnitOfWork
from domain.resources import FRAMEWORK, LICENCE, PRETRAINED_MODEL
from domain.services._base import existing
from domain.services.frameworks import Frameworks
from domain.services.licences import Licences
from domain.services.pretrained_models import PretrainedModels
from domain.transfer import Counted, Progress
from domain.validation import value_problem

KINDS = ("licence", "framework", "model")
SHA256_LENGTH = 64


@dataclass(frozen=True)
class Step:
    """One record of the source to copy; ``retry`` marks a new record whose
    pk was taken here, which now takes a fresh one."""

    kind: str
    record: Mapping[str, Any]
    retry: bool = False

    @property
    def source_pk(self) -> int | None:
        """The record's pk on the source, if it is one this registry can keep."""
        pk = self.record.get("pk")
        if isinstance(pk, bool) or not isinstance(pk, int) or not 0 < pk <= INT_MAX:
            return None
        return pk

    @property
    def label(self) -> str:
        """How the record is named in a report: kind, source pk and key."""
        record = self.record
        if self.kind == "framework":
            name = f"{record.get('name')} {record.get('version')}"
        else:
            name = str(record.get("name"))
        pk = record.get("pk")
        return f"{self.kind} {pk} {name!r}" if pk is not None else f"{self.kind} {name!r}"

    @property
    def file_size(self) -> int | None:
        size = self.record.get("data_size")
        return size if isinstance(size, int) and not isinstance(size, bool) else None


@dataclass(frozen=True)
class StepResult:
    """What one step did.

    ``outcome``: ``created``, ``updated``, ``unchanged``, or ``deferred`` (a
    new record whose pk is taken here; the plan gives it again later).
    ``file``: ``stored``, ``unchanged``, ``none`` (the source has none),
    ``remote`` (not fetched on the source yet: this registry fetches it from
    the model's ``source`` on first use, as the source would), ``failed``, or
    ``not served`` (a soft-deleted model's); ``file_error`` says why.
    """

    step: Step
    outcome: str
    pk: int | None = None
    file: str = "none"
    file_error: DomainError | None = None

    @property
    def deferred(self) -> bool:
        return self.outcome == "deferred"

    @property
    def failed(self) -> bool:
        return self.file == "failed"

    @property
    def pk_differs(self) -> bool:
        """Whether the record's pk here is not its pk on the source."""
        return not self.deferred and self.pk != self.step.record.get("pk")


@dataclass
class Plan:
    """What the source holds, read once, and the steps that copy it.

    Iterating gives the steps kind by kind, each kind's records in pk order,
    then the ones of that kind deferred because their pk was taken.
    """

    source: SourceServer
    records: Mapping[str, Sequence[Mapping[str, Any]]]
    domain_names: Mapping[str, str]
    usernames: Mapping[int, str | None]
    _deferred: dict[str, list[Step]] = field(default_factory=dict, init=False, repr=False)

    def __len__(self) -> int:
        return sum(len(records) for records in self.records.values())

    def __iter__(self) -> Iterator[Step]:
        for kind in KINDS:
            self._deferred[kind] = []
            for record in self.records[kind]:
                yield Step(kind, record)
            for step in self._deferred[kind]:
                yield replace(step, retry=True)

    def defer(self, step: Step) -> None:
        self._deferred[step.kind].append(step)

    def framework_key(self, value: Any) -> tuple[Any, Any] | None:
        """The name and version of the framework a source model names, by
        object (as the UFDL API shows it) or by pk."""
        if isinstance(value, Mapping):
            return value.get("name"), value.get("version")
        for record in self.records["framework"]:
            if record.get("pk") == value and not isinstance(value, bool):
                return record.get("name"), record.get("version")
        return None


class _Deferred(Exception):
    """A new record's pk is taken here: its step waits for the others."""


class Migration:
    def __init__(
        self,
        uow: UnitOfWork,
        models: PretrainedModels,
        frameworks: Frameworks,
        licences: Licences,
        store: BlobStore,
    ) -> None:
        self.uow = uow
        self.models = models
        self.frameworks = frameworks
        self.licences = licences
        self.store = store

    def plan(self, actor: Actor, source: SourceServer) -> Plan:
        """Read what the source holds: its licences, frameworks, models
        (soft-deleted ones included), domains and the names of the models'
        creators. Changes nothing here."""
        require_admin(actor)
        records = {
            "licence": _by_pk(source.licences()),
            "framework": _by_pk(source.frameworks()),
            "model": _by_pk(source.models()),
        }
        domain_names = {
            d["description"]: d["name"]
            for d in source.domains()
            if isinstance(d.get("description"), str) and isinstance(d.get("name"), str)
        }
        creators = {m.get("creator") for m in records["model"]}
        usernames = {
            pk: source.username(pk)
            for pk in sorted(c for c in creators if isinstance(c, int) and not isinstance(c, bool))
        }
        return Plan(source, records, domain_names, usernames)

    def migrate(
        self, actor: Actor, plan: Plan, step: Step, progress: Progress | None = None
    ) -> StepResult:
        """Copy one record. Call it in a transaction of its own: a record that
        breaks a rule raises, and the caller aborts that transaction."""
        require_admin(actor)
        try:
            if step.kind == "licence":
                return self._licence(actor, step)
            if step.kind == "framework":
                return self._framework(actor, step)
            return self._model(actor, plan, step, progress)
        except _Deferred:
            plan.defer(step)
            return StepResult(step, "deferred")

    # -- licences and frameworks --------------------------------------------

    def _licence(self, actor: Actor, step: Step) -> StepResult:
        record = step.record
        data = _writable(LICENCE, record)
        found = self._by_key(LICENCE, data, lambda: self.uow.licences.get_by_name(data["name"]))
        if found is None:
            licence = self.licences.create(actor, data, pk=_new_pk(self.uow.licences, step))
            before = None
        else:
            licence, before = found, _licence_state(found)
            if any(getattr(found, name) != value for name, value in data.items()):
                licence = self.licences.update(actor, found.pk, data)  # type: ignore[arg-type]
        for kind in SUBDESCRIPTOR_TYPES:
            if kind in record:
                self._subdescriptors(actor, licence, kind, record[kind])
        return StepResult(step, _outcome(before, _licence_state(licence)), licence.pk)

    def _subdescriptors(self, actor: Actor, licence: Licence, kind: str, names: Any) -> None:
        """Make one list of the licence the source's, in the source's order."""
        wanted = list(dict.fromkeys(names)) if _strings(names) else names
        current = list(getattr(licence, kind))
        if wanted == current:
            return
        try:
            for method, given in (("remove", current), ("add", wanted)):
                if given:
                    body = {"type": kind, "method": method, "names": given}
                    self.licences.edit_subdescriptors(actor, licence.pk, body)  # type: ignore[arg-type]
        except Invalid as exc:
            raise Invalid(fields={kind: exc.fields.get("names", [exc.detail])}) from None

    def _framework(self, actor: Actor, step: Step) -> StepResult:
        data = _writable(FRAMEWORK, step.record)
        found = self._by_key(
            FRAMEWORK,
            data,
            lambda: self.uow.frameworks.get_by_name_version(data["name"], data["version"]),
        )
        if found is not None:
            return StepResult(step, "unchanged", found.pk)  # its key is all it has
        framework = self.frameworks.create(actor, data, pk=_new_pk(self.uow.frameworks, step))
        return StepResult(step, "created", framework.pk)

    # -- models ----------------------------------------------------------------

    def _model(self, actor: Actor, plan: Plan, step: Step, progress: Progress | None) -> StepResult:
        record = step.record
        data = self._model_data(plan, record)
        found = self._find_model(data)
        deleted_there = record.get("deletion_time") is not None
        creator_known, creator = self._creator(plan, record)
        if found is None:
            model = self.models.create(actor, data, pk=_new_pk(self.uow.models, step))
            model.creation_time = _time(record.get("creation_time")) or model.creation_time
            model.creator = creator
            pk, before, differs = model.pk, None, False
        else:
            pk, before, differs = found.pk, _model_state(found), _differs(found, data)
        assert pk is not None
        # The file is asked for before the model changes state: a soft-deleted
        # model whose file the source does not serve is then left as it is.
        stream, file, error = self._open_file(plan, step, pk)
        try:
            model = self._get(pk)
            if model.is_deleted and (not deleted_there or differs or stream is not None):
                self.models.reinstate(actor, pk)
            if differs:
                self.models.update(actor, pk, data)
            model = self._get(pk)
            if creator_known and _pk_of(model.creator) != _pk_of(creator):
                model.creator = creator
            if stream is not None:
                if progress is not None:
                    stream = Counted(stream, progress)  # type: ignore[assignment]
                file, error = self._store(actor, pk, stream, _sha256(record))
                if error is not None and deleted_there:
                    file = "not served"
        finally:
            if stream is not None:
                stream.close()
        model = self._get(pk)
        if deleted_there and not model.is_deleted:
            self.models.soft_delete(actor, pk)
            model = self._get(pk)
            model.deletion_time = _time(record.get("deletion_time")) or model.deletion_time
        return StepResult(step, _outcome(before, _model_state(model)), pk, file, error)

    def _model_data(self, plan: Plan, record: Mapping[str, Any]) -> dict[str, Any]:
        """The writable fields the source shows, as a body here names them."""
        data = _writable(PRETRAINED_MODEL, record)
        if "framework" in data:
            key = plan.framework_key(data["framework"])
            framework = None
            if key is not None and all(isinstance(part, str) for part in key):
                framework = self.uow.frameworks.get_by_name_version(*key)
            if framework is None:
                raise Invalid.field(
                    "framework", f"No framework {_spelled(key)} here (was it migrated?)."
                )
            data["framework"] = framework.pk
        domain = data.get("domain")
        if isinstance(domain, str):
            data["domain"] = plan.domain_names.get(domain, domain)
        return data

    def _find_model(self, data: Mapping[str, Any]) -> PretrainedModel | None:
        """The model with the record's key, soft-deleted or not."""
        key = PRETRAINED_MODEL.key
        if any(value_problem(PRETRAINED_MODEL[name], data.get(name)) for name in key):
            return None  # ``create`` reports the field with the API's message
        spec = FilterSpec(tuple(Exact(name, data[name]) for name in key), include_inactive=True)
        found = self.uow.models.list(spec)
        return found[0] if found else None

    def _creator(self, plan: Plan, record: Mapping[str, Any]) -> tuple[bool, User | None]:
        """Whether the creator is known, and the user here who it is: none
        when the source shows none or names someone unknown here; unknown
        when the source does not say who its user is."""
        pk = record.get("creator")
        if pk is None:
            return True, None
        username = plan.usernames.get(pk) if isinstance(pk, int) else None
        if username is None:
            return False, None
        return True, self.uow.users.get_by_username(username)

    def _open_file(self, plan: Plan, step: Step, pk: int) -> tuple[Any, str, DomainError | None]:
        """The source's stream of the model's file when this registry needs
        it, else None; with what the file step is so far."""
        record = step.record
        if "data_state" in record:
            served = record["data_state"] == "local"
        else:
            served = record.get("data") is True  # a UFDL server: a file is attached
        if not served:
            return None, "remote" if record.get("data") is True else "none", None
        sha256 = _sha256(record)
        held = self._get(pk).blob
        if held is not None and held.sha256 == sha256 and self.store.exists(held):
            return None, "unchanged", None
        if step.source_pk is None:
            return None, "failed", Invalid("The source shows no pk to fetch the file by.")
        try:
            return plan.source.open_file(step.source_pk), "none", None
        except SourceUnavailable as exc:
            deleted_there = record.get("deletion_time") is not None
            return None, "not served" if deleted_there else "failed", exc

    def _store(
        self, actor: Actor, pk: int, stream: Any, sha256: str | None
    ) -> tuple[str, DomainError | None]:
        """Attach the bytes of ``stream``; a download that breaks off, bytes
        that are not the digest shown, or a file too large or with no room
        here is reported and stores nothing."""
        held = self._get(pk).blob
        try:
            model = self.models.set_file(
                actor, pk, stream, expected_sha256=sha256, replace_identical=False
            )
        except (SourceUnavailable, Invalid, TooLarge, StorageFull) as exc:
            return "failed", exc
        return ("unchanged" if model.blob == held else "stored"), None

    # -- helpers ----------------------------------------------------------------

    def _get(self, pk: int) -> PretrainedModel:
        return existing(self.uow.models.get(pk))  # NotFound if deleted meanwhile

    @staticmethod
    def _by_key(resource: Resource, data: Mapping[str, Any], find: Any) -> Any:
        """The record with the key ``data`` gives, or None (also when the key
        is incomplete or invalid: creating then reports the field)."""
        if any(value_problem(resource[name], data.get(name)) for name in resource.key):
            return None
        return find()


def _new_pk(repository: Repository[Any], step: Step) -> int | None:
    """The pk a new record takes: the source's when it is free here; else
    None (a fresh one) when the step is given again, after the others of its
    kind; the first time, ``_Deferred``."""
    pk = step.source_pk
    if pk is None or repository.get(pk) is None:
        return pk
    if step.retry:
        return None
    raise _Deferred


def _by_pk(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Records in pk order (those without a usable pk last, as given)."""

    def order(record: Any) -> tuple[int, int]:
        pk = record.get("pk") if isinstance(record, Mapping) else None
        return (0, pk) if isinstance(pk, int) and not isinstance(pk, bool) else (1, 0)

    return sorted(records, key=order)


def _writable(resource: Resource, record: Mapping[str, Any]) -> dict[str, Any]:
    return {f.name: record[f.name] for f in resource.writable if f.name in record}


def _current(model: PretrainedModel, name: str) -> Any:
    """A writable field's value on the model, as a body gives it."""
    declared = PRETRAINED_MODEL[name]
    value = getattr(model, name)
    return value if declared.references is None else getattr(value, declared.lookup)


def _differs(model: PretrainedModel, data: Mapping[str, Any]) -> bool:
    """Whether an update with ``data`` would change the model."""
    return any(_current(model, name) != value for name, value in data.items())


def _model_state(model: PretrainedModel) -> tuple[Any, ...]:
    """What a migration sets on a model, to tell whether it changed it."""
    values = (_current(model, f.name) for f in PRETRAINED_MODEL.writable)
    return (*values, _pk_of(model.creator), model.is_deleted)


def _licence_state(licence: Licence) -> tuple[Any, ...]:
    lists = (tuple(getattr(licence, kind)) for kind in SUBDESCRIPTOR_TYPES)
    return (licence.name, licence.url, *lists)


def _outcome(before: tuple[Any, ...] | None, after: tuple[Any, ...]) -> str:
    if before is None:
        return "created"
    return "unchanged" if before == after else "updated"


def _pk_of(entity: User | Framework | None) -> int | None:
    return entity.pk if entity is not None else None


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _sha256(record: Mapping[str, Any]) -> str | None:
    """The digest the source shows for its file, if it shows a valid one."""
    value = record.get("data_sha256")
    if isinstance(value, str) and len(value) == SHA256_LENGTH:
        try:
            int(value, 16)
        except ValueError:
            return None
        return value.lower()
    return None


def _time(value: Any) -> datetime | None:
    """A timestamp the source shows, or None when it shows none it can read."""
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value)
    except Invalid:
        return None


def _spelled(key: tuple[Any, Any] | None) -> str:
    return "(none named)" if key is None else f"{key[0]!r} {key[1]!r}"
