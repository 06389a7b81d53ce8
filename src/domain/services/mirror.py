"""Mirror: import models from a manifest, and export them as one.

A manifest is a list of entries, each the fields of a model plus where its
file comes from::

    {"name": "resnet50", "framework": {"name": "pytorch", "version": "2.4"},
     "domain": "ic", "licence": "MIT", "url": "https://...", "description": "...",
     "metadata": "", "file": "resnet50.pth" or "https://...", "sha256": "..."}

An entry is identified by name and framework, so importing the same manifest
again changes nothing and fetches no file the model already holds with the
declared digest. Every field goes through the same service calls as the API
(``PretrainedModels.create/update/set_file``, ``Frameworks.get_or_create``),
so an entry that breaks a rule fails with the API's own message.

A catalogue (``domain.catalogue``) is a manifest shipped with modelhub, with
a list of frameworks to add first (``import_framework``), used or not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.errors import Invalid
from domain.fields import Field
from domain.filters import Exact, FilterSpec
from domain.model import BlobRef, Framework, PretrainedModel
from domain.permissions import Actor, require_admin
from domain.ports import BlobStore, Fetcher, FileSink, UnitOfWork
from domain.resources import PRETRAINED_MODEL
from domain.services.frameworks import Frameworks
from domain.services.pretrained_models import PretrainedModels
from domain.transfer import Counted, Progress
from domain.validation import value_problem

SHA256_PATTERN = re.compile(r"^[0-9a-fA-F]{64}\Z")


@dataclass(frozen=True)
class ImportResult:
    """What importing one entry did (or, in a dry run, would do)."""

    name: str
    model: str  # "created", "updated" or "unchanged"
    # "stored", "unchanged", "skipped" (dry run), "remote" (none given: the
    # model's source is fetched on first download) or "none"
    file: str
    pk: int | None

    @property
    def changed(self) -> bool:
        return self.model != "unchanged" or self.file == "stored"


@dataclass(frozen=True)
class FrameworkResult:
    """What importing one framework did (or, in a dry run, would do)."""

    name: str
    version: str
    outcome: str  # "created" or "unchanged"
    pk: int | None


class Mirror:
    def __init__(
        self,
        uow: UnitOfWork,
        models: PretrainedModels,
        frameworks: Frameworks,
        store: BlobStore,
        fetcher: Fetcher,
    ) -> None:
        self.uow = uow
        self.models = models
        self.frameworks = frameworks
        self.store = store
        self.fetcher = fetcher

    def import_entry(
        self,
        actor: Actor,
        entry: Any,
        *,
        relative_to: str | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> ImportResult:
        """Create or update the entry's model, then attach its file.

        Call it in a transaction of its own per entry: any error (a broken
        rule, an unreachable URL, a digest mismatch) raises, and the caller
        aborts that entry's transaction, so nothing of it is stored. A dry
        run fetches nothing and aborts its own changes.
        """
        require_admin(actor)
        if not isinstance(entry, Mapping):
            raise Invalid("Each manifest entry must be a JSON object.")
        location, sha256 = self._file_fields(entry)
        data = {f.name: entry[f.name] for f in PRETRAINED_MODEL.exported if f.name in entry}
        if "framework" in data:
            data["framework"] = self._framework(actor, data["framework"])[0].pk
        model = self._find(data)
        if model is None:
            model = self.models.create(actor, data)
            outcome = "created"
        else:
            before = _snapshot(model)
            model = self.models.update(actor, model.pk, data)
            outcome = "unchanged" if _snapshot(model) == before else "updated"
        held = self._held(model)
        if location is None:
            file = "remote" if model.data_state == "remote" else "none"
        elif sha256 is not None and held is not None and held.sha256 == sha256.lower():
            file = "unchanged"  # nothing to download
        elif dry_run:
            file = "skipped"
        else:
            stream = self.fetcher.open(location, relative_to)
            try:
                if progress is not None:
                    stream = Counted(stream, progress)
                self.models.set_file(
                    actor, model.pk, stream, expected_sha256=sha256, replace_identical=False
                )
            finally:
                stream.close()
            file = "unchanged" if held is not None and model.blob == held else "stored"
        result = ImportResult(model.name, outcome, file, model.pk)
        if dry_run:
            self.uow.abort()
        return result

    def import_framework(
        self, actor: Actor, entry: Any, *, dry_run: bool = False
    ) -> FrameworkResult:
        """Add the framework ``entry`` names (``{"name", "version"}``, as a
        manifest entry's ``framework``) unless it exists: a catalogue lists
        frameworks that none of its models use yet. Call it in a transaction
        of its own, as ``import_entry``; a dry run aborts its own changes."""
        require_admin(actor)
        framework, created = self._framework(actor, entry)
        result = FrameworkResult(
            framework.name, framework.version, "created" if created else "unchanged", framework.pk
        )
        if dry_run:
            self.uow.abort()
        return result

    def export(self, actor: Actor, sink: FileSink | None = None) -> list[dict[str, Any]]:
        """The active models as manifest entries that ``import_entry`` accepts;
        with a ``sink``, their files are copied there and named in ``file``."""
        require_admin(actor)
        written: dict[str, str] = {}
        entries = []
        for model in self.models.list(actor, {"order_by": [{"field": "pk"}]}):
            entry = {f.name: _exported(model, f) for f in PRETRAINED_MODEL.exported}
            ref = model.blob
            if ref is not None:
                if sink is not None:
                    if ref.sha256 not in written:
                        with self.store.open(ref) as stream:
                            written[ref.sha256] = sink.write(f"{ref.sha256}.data", stream)
                    entry["file"] = written[ref.sha256]
                entry["sha256"] = ref.sha256
            entries.append(entry)
        return entries

    # -- helpers ----------------------------------------------------------

    @staticmethod
    def _file_fields(entry: Mapping[str, Any]) -> tuple[str | None, str | None]:
        location, sha256 = entry.get("file"), entry.get("sha256")
        errors: dict[str, list[str]] = {}
        if location is not None and (not isinstance(location, str) or not location.strip()):
            errors["file"] = ["Give a local path or an http(s) URL."]
        if sha256 is not None and (not isinstance(sha256, str) or not SHA256_PATTERN.match(sha256)):
            errors["sha256"] = ["Enter a valid SHA-256: 64 hexadecimal digits."]
        if errors:
            raise Invalid(fields=errors)
        return location, sha256

    def _framework(self, actor: Actor, raw: Any) -> tuple[Framework, bool]:
        """The framework an entry names by its exported fields, created when
        missing, and whether it was; a bad field is reported as
        ``framework.<field>``."""
        if not isinstance(raw, Mapping):
            raise Invalid.field("framework", 'Give an object {"name": ..., "version": ...}.')
        name, version = raw.get("name"), raw.get("version")
        try:
            if isinstance(name, str) and isinstance(version, str):
                return self.frameworks.find_or_create(actor, name, version)
            # Reports each bad field as the API's framework create would.
            return self.frameworks.create(actor, raw), True
        except Invalid as exc:
            # Name the framework's fields as the manifest nests them.
            raise Invalid(
                exc.detail if not exc.fields else None,
                fields={f"framework.{field}": msgs for field, msgs in exc.fields.items()},
            ) from None

    def _find(self, data: Mapping[str, Any]) -> PretrainedModel | None:
        """The model with the entry's key, deleted or not; None when the key is
        incomplete (``create`` then reports the field with the API's message)."""
        key = PRETRAINED_MODEL.key
        if any(value_problem(PRETRAINED_MODEL[name], data.get(name)) for name in key):
            return None
        spec = FilterSpec(tuple(Exact(name, data[name]) for name in key), include_inactive=True)
        found = self.uow.models.list(spec)
        return found[0] if found else None

    def _held(self, model: PretrainedModel) -> BlobRef | None:
        """The model's file, if its bytes are really in the store."""
        ref = model.blob
        return ref if ref is not None and self.store.exists(ref) else None


def _exported(model: PretrainedModel, field: Field) -> Any:
    """A field's value in a manifest: a record that pks cannot name across
    registries (a framework) travels as its own exported fields, another
    (a domain, a licence) as the field that names it in a body."""
    value = getattr(model, field.name)
    if field.references is None:
        return value
    if field.lookup != "pk":
        return getattr(value, field.lookup)
    return {f.name: getattr(value, f.name) for f in field.references.exported}


def _snapshot(model: PretrainedModel) -> tuple[Any, ...]:
    return tuple(_exported(model, field) for field in PRETRAINED_MODEL.exported)
