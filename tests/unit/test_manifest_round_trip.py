"""Every exported field travels through export and import, and a change to
any one of them is seen by a re-import.

The manifests here are built from the declarations (``Resource.exported``),
not written out, so a field dropped from the export, the import or the
comparison that decides "unchanged" fails a case below.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from adapters.memory import MemoryBlobStore, MemoryFetcher, MemoryUnitOfWork
from domain.fields import Field
from domain.filters import FilterSpec
from domain.model import PretrainedModel
from domain.permissions import SYSTEM
from domain.resources import DOMAIN, LICENCE, PRETRAINED_MODEL
from domain.services.frameworks import Frameworks
from domain.services.mirror import Mirror
from domain.services.pretrained_models import PretrainedModels
from domain.services.seed import seed
from tests.unit.conftest import FakeClock, valid_text

Path = tuple[str, ...]


class Registry:
    """A new registry on the in-memory fakes, seeded and committed."""

    def __init__(self) -> None:
        self.uow = MemoryUnitOfWork()
        seed(self.uow)
        self.uow.commit()
        store = MemoryBlobStore()
        self.models = PretrainedModels(self.uow, store, FakeClock())
        frameworks = Frameworks(self.uow)
        self.mirror = Mirror(self.uow, self.models, frameworks, store, MemoryFetcher())

    def load(self, entry: dict[str, Any]) -> tuple[str, PretrainedModel]:
        """Import one entry and commit; what it did and the model."""
        result = self.mirror.import_entry(SYSTEM, entry)
        self.uow.commit()
        model = self.uow.models.get(result.pk)  # type: ignore[arg-type]
        assert model is not None
        return result.model, model

    def export(self) -> list[dict[str, Any]]:
        return self.mirror.export(SYSTEM)

    def count(self) -> int:
        return len(self.uow.models.list(FilterSpec()))


def _records(registry: Registry, field: Field) -> list[str]:
    """The names by which a body can refer to each seeded record of a reference."""
    repository = {DOMAIN.name: registry.uow.domains, LICENCE.name: registry.uow.licences}
    found = repository[field.references.name].list(FilterSpec())  # type: ignore[union-attr]
    return [getattr(record, field.lookup) for record in found]


def sample(registry: Registry, field: Field, variant: int) -> Any:
    """A valid manifest value of ``field``, a different one for each variant."""
    if field.references is not None:
        if field.lookup == "pk":  # pks do not travel: the record's own fields do
            return {f.name: sample(registry, f, variant) for f in field.references.exported}
        return _records(registry, field)[variant]
    return valid_text(field, variant)


def entry_for(registry: Registry, variant: int = 0) -> dict[str, Any]:
    return {f.name: sample(registry, f, variant) for f in PRETRAINED_MODEL.exported}


def held(model: PretrainedModel, path: Path) -> Any:
    """The value at ``path`` (a field, or a field of a record it references)."""
    field = PRETRAINED_MODEL[path[0]]
    value = getattr(model, field.name)
    if len(path) == 2:
        return getattr(value, path[1])
    return getattr(value, field.lookup) if field.references is not None else value


def leaf_paths() -> list[Path]:
    paths: list[Path] = []
    for field in PRETRAINED_MODEL.exported:
        if field.references is not None and field.lookup == "pk":
            paths += [(field.name, f.name) for f in field.references.exported]
        else:
            paths.append((field.name,))
    return paths


def at(entry: dict[str, Any], path: Path) -> Any:
    value = entry[path[0]]
    return value[path[1]] if len(path) == 2 else value


LEAVES = leaf_paths()
IDS = [".".join(p) for p in LEAVES]


def test_every_exported_field_survives_export_and_import() -> None:
    source, target = Registry(), Registry()
    entry = entry_for(source)
    assert source.load(entry)[0] == "created"

    (exported,) = source.export()
    assert {k: v for k, v in exported.items() if k not in ("file", "sha256")} == entry

    outcome, copied = target.load(exported)
    assert outcome == "created"
    for path in LEAVES:
        assert held(copied, path) == at(entry, path), path
    assert target.export() == [exported]


@pytest.mark.parametrize("path", LEAVES, ids=IDS)
def test_a_changed_field_is_imported(path: Path) -> None:
    registry = Registry()
    entry = entry_for(registry)
    registry.load(entry)
    changed = copy.deepcopy(entry)
    new = at(entry_for(registry, variant=1), path)
    if len(path) == 2:
        changed[path[0]][path[1]] = new
    else:
        changed[path[0]] = new

    outcome, model = registry.load(changed)

    # A change of the key makes another model; any other change updates it.
    assert outcome == ("created" if path[0] in PRETRAINED_MODEL.key else "updated")
    assert registry.count() == (2 if outcome == "created" else 1)
    for other in LEAVES:
        assert held(model, other) == at(changed, other), other
    assert registry.load(changed)[0] == "unchanged"


def test_whatever_an_admin_can_set_on_a_model_is_exported() -> None:
    writable = {f.name for f in PRETRAINED_MODEL.writable}
    assert writable <= {f.name for f in PRETRAINED_MODEL.exported}
