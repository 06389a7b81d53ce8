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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from domain.errors import Invalid
from domain.filters import Exact, FilterSpec
from domain.model import BlobRef, PretrainedModel
from domain.permissions import Actor, require_admin
from domain.ports import BlobStore, Fetcher, FileSink, UnitOfWork
from domain.services.frameworks import Frameworks
from domain.services.pretrained_models import PretrainedModels

MODEL_FIELDS = ("name", "domain", "licence", "url", "description", "metadata")
SHA256_PATTERN = re.compile(r"^[0-9a-fA-F]{64}\Z")

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportResult:
    """What importing one entry did (or, in a dry run, would do)."""

    name: str
    model: str  # "created", "updated" or "unchanged"
    file: str  # "stored", "unchanged", "skipped" (dry run) or "none"
    pk: int | None

    @property
    def changed(self) -> bool:
        return self.model != "unchanged" or self.file == "stored"


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
        framework = self._framework(actor, entry.get("framework"))
        data = {name: entry[name] for name in MODEL_FIELDS if name in entry}
        data["framework"] = framework.pk
        model = self._find(entry.get("name"), framework.pk)
        if model is None:
            model = self.models.create(actor, data)
            outcome = "created"
        else:
            before = _snapshot(model)
            model = self.models.update(actor, model.pk, data)
            outcome = "unchanged" if _snapshot(model) == before else "updated"
        held = self._held(model)
        if location is None:
            file = "none"
        elif sha256 is not None and held is not None and held.sha256 == sha256.lower():
            file = "unchanged"  # nothing to download
        elif dry_run:
            file = "skipped"
        else:
            stream = self.fetcher.open(location, relative_to)
            try:
                if progress is not None:
                    stream = _Counting(stream, progress)
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

    def export(self, actor: Actor, sink: FileSink | None = None) -> list[dict[str, Any]]:
        """The active models as manifest entries that ``import_entry`` accepts;
        with a ``sink``, their files are copied there and named in ``file``."""
        require_admin(actor)
        written: dict[str, str] = {}
        entries = []
        for model in self.models.list(actor, {"order_by": [{"field": "pk"}]}):
            entry: dict[str, Any] = {
                "name": model.name,
                "framework": {"name": model.framework.name, "version": model.framework.version},
                "domain": model.domain.name,
                "licence": model.licence.name,
                "url": model.url,
                "description": model.description,
                "metadata": model.metadata,
            }
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

    def _framework(self, actor: Actor, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            raise Invalid.field("framework", 'Give an object {"name": ..., "version": ...}.')
        name, version = raw.get("name"), raw.get("version")
        try:
            if isinstance(name, str) and isinstance(version, str):
                return self.frameworks.get_or_create(actor, name, version)
            given = {k: v for k, v in (("name", name), ("version", version)) if v is not None}
            return self.frameworks.create(actor, given)  # reports the bad fields
        except Invalid as exc:
            # Name the framework's fields as the manifest nests them.
            raise Invalid(
                exc.detail if not exc.fields else None,
                fields={f"framework.{field}": msgs for field, msgs in exc.fields.items()},
            ) from None

    def _find(self, name: Any, framework_pk: int | None) -> PretrainedModel | None:
        if not isinstance(name, str) or framework_pk is None:
            return None  # create() then reports the name with the API's message
        spec = FilterSpec(
            (Exact("name", name), Exact("framework", framework_pk)), include_inactive=True
        )
        found = self.uow.models.list(spec)
        return found[0] if found else None

    def _held(self, model: PretrainedModel) -> BlobRef | None:
        """The model's file, if its bytes are really in the store."""
        ref = model.blob
        return ref if ref is not None and self.store.exists(ref) else None


def _snapshot(model: PretrainedModel) -> tuple[Any, ...]:
    return (
        model.name,
        model.framework.pk,
        model.domain.name,
        model.licence.name,
        model.url,
        model.description,
        model.metadata,
    )


class _Counting:
    """A stream that reports how many bytes were read through it."""

    def __init__(self, stream: BinaryIO, progress: Progress) -> None:
        self.stream = stream
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        if chunk:
            self.progress(len(chunk))
        return chunk

    def close(self) -> None:
        self.stream.close()
