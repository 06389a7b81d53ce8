"""UFDL's catalogue: the licences a registry is seeded with, the SPDX
identifiers a model body may give them by, and the frameworks and models
``import --catalogue ufdl`` adds, against the in-memory fakes."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.memory import MemoryBlobStore, MemoryFetcher, MemoryUnitOfWork
from domain.catalogue import CATALOGUES, ufdl
from domain.errors import Invalid, PermissionDenied
from domain.model import Licence, PretrainedModel, User
from domain.permissions import SYSTEM
from domain.services.frameworks import Frameworks
from domain.services.licences import Licences
from domain.services.mirror import Mirror
from domain.services.pretrained_models import PretrainedModels
from domain.services.seed import DOMAINS
from domain.validation import BLANK, NOT_TEXT
from tests.unit.conftest import everything

UFDL = CATALOGUES["ufdl"]

# Each UFDL licence by its SPDX identifier (Proprietary has none; modelhub's
# earlier seed spelled it in lower case).
SPDX = {
    "AGPL-3.0": "AGPL3",
    "AGPL-3.0-only": "AGPL3",
    "Apache-2.0": "Apache 2.0",
    "BSD-2-Clause": "BSD 2-clause",
    "BSD-3-Clause": "BSD 3-clause",
    "CC0-1.0": "CC0",
    "CC-BY-4.0": "CC-BY-4.0",
    "CC-BY-SA-4.0": "CC-BY-SA-4.0",
    "GPL-2.0": "GPL2",
    "GPL-2.0-only": "GPL2",
    "GPL-3.0": "GPL3",
    "GPL-3.0-only": "GPL3",
    "LGPL-3.0": "LGPL3",
    "LGPL-3.0-only": "LGPL3",
    "MIT": "MIT",
    "MPL-2.0": "Mozilla Public License 2.0",
    "Unlicense": "The Unlicense",
    "proprietary": "Proprietary",
}


def invalid_fields(action: Any) -> dict[str, list[str]]:
    with pytest.raises(Invalid) as caught:
        action()
    return caught.value.fields


# -- the data ---------------------------------------------------------------------


def test_the_catalogue_is_consistent_with_itself_and_the_seed() -> None:
    licences = [licence.name for licence in ufdl.LICENCES]
    frameworks = [(f["name"], f["version"]) for f in UFDL.frameworks()]
    models = UFDL.models()
    assert (len(licences), len(frameworks), len(models)) == (14, 16, 16)
    assert len(set(licences)) == 14 and len(set(frameworks)) == 16
    assert (
        len({(m["name"], m["framework"]["name"], m["framework"]["version"]) for m in models}) == 16
    )
    seeded_domains = {name for name, _ in DOMAINS}
    for model in models:
        assert (model["framework"]["name"], model["framework"]["version"]) in frameworks
        assert model["licence"] in licences
        assert model["domain"] in seeded_domains
        assert model["source"].startswith(("http://", "https://"))
    # Every UFDL licence has an alias but those spelled alike, and Proprietary,
    # which has no SPDX identifier, has modelhub's earlier spelling.
    assert set(SPDX.values()) == set(licences)
    assert set(ufdl.LICENCE_ALIASES.values()) <= set(licences)
    assert not set(ufdl.LICENCE_ALIASES) & set(licences)


def test_each_call_gives_new_lists() -> None:
    first = UFDL.models()
    first[0]["framework"]["name"] = "changed"
    first[0]["licence"] = "changed"
    UFDL.frameworks()[0]["name"] = "changed"
    assert UFDL.models()[0]["framework"] == {"name": "mmclassification", "version": "0.23.1"}
    assert UFDL.models()[0]["licence"] == "Apache 2.0"
    assert UFDL.frameworks()[0] == {"name": "tensorflow", "version": "1.14"}


# -- licence aliases ----------------------------------------------------------------


@pytest.mark.parametrize(("given", "name"), SPDX.items())
def test_a_model_body_may_give_a_ufdl_licence_by_its_spdx_identifier(
    given: str,
    name: str,
    models: PretrainedModels,
    admin: User,
    model_data: dict[str, Any],
) -> None:
    created = models.create(admin, {**model_data, "licence": given})
    assert created.licence.name == name


def test_aliases_on_create_put_and_patch(
    models: PretrainedModels, admin: User, model_data: dict[str, Any], uow: MemoryUnitOfWork
) -> None:
    created = models.create(admin, {**model_data, "licence": "Apache-2.0"})
    apache = uow.licences.get_by_name("Apache 2.0")
    assert created.licence is apache
    updated = models.update(admin, created.pk, {**model_data, "licence": "GPL-3.0"})
    assert updated.licence.name == "GPL3"
    patched = models.update(admin, created.pk, {"licence": "MPL-2.0"}, partial=True)
    assert patched.licence.name == "Mozilla Public License 2.0"
    patched = models.update(admin, created.pk, {"licence": "Apache 2.0"}, partial=True)
    assert patched.licence is apache


def test_a_licence_called_by_the_alias_wins(
    models: PretrainedModels,
    licences: Licences,
    admin: User,
    model_data: dict[str, Any],
) -> None:
    """A registry seeded before UFDL's licences has its own "Apache-2.0"."""
    own = licences.create(admin, {"name": "Apache-2.0", "url": "https://apache.org/"})
    created = models.create(admin, {**model_data, "licence": "Apache-2.0"})
    assert created.licence is own
    other = models.create(admin, {**model_data, "name": "other", "licence": "Apache 2.0"})
    assert other.licence is not own and other.licence.name == "Apache 2.0"


def test_unknown_licences_and_aliases_of_missing_ones_are_refused(
    models: PretrainedModels,
    licences: Licences,
    admin: User,
    model_data: dict[str, Any],
    uow: MemoryUnitOfWork,
) -> None:
    for given in ("Nope-1.0", "apache-2.0", "Apache 2"):
        body = {**model_data, "licence": given}
        assert invalid_fields(lambda body=body: models.create(admin, body)) == {
            "licence": [f"Object with name={given} does not exist."]
        }
    licences.destroy(admin, uow.licences.get_by_name("GPL3").pk)  # type: ignore[union-attr]
    body = {**model_data, "licence": "GPL-3.0"}
    assert invalid_fields(lambda: models.create(admin, body)) == {
        "licence": ["Object with name=GPL-3.0 does not exist."]
    }
    assert [m.name for m in everything(uow.models)] == []


def test_filters_compare_the_stored_name_not_aliases(
    models: PretrainedModels, admin: User, model_data: dict[str, Any]
) -> None:
    created = models.create(admin, {**model_data, "licence": "Apache-2.0"})

    def by_licence(name: str) -> list[int | None]:
        spec = {"expressions": [{"type": "exact", "field": "licence.name", "value": name}]}
        return [m.pk for m in models.list(admin, spec)]

    assert by_licence("Apache 2.0") == [created.pk]
    assert by_licence("Apache-2.0") == []


# -- import --catalogue ufdl ----------------------------------------------------------


@pytest.fixture
def fetcher() -> MemoryFetcher:
    return MemoryFetcher()


@pytest.fixture
def mirror(
    uow: MemoryUnitOfWork,
    models: PretrainedModels,
    frameworks: Frameworks,
    store: MemoryBlobStore,
    fetcher: MemoryFetcher,
) -> Mirror:
    return Mirror(uow, models, frameworks, store, fetcher)


def import_catalogue(mirror: Mirror, uow: MemoryUnitOfWork, dry_run: bool = False) -> list[str]:
    """Import UFDL's catalogue as the command does, each record committed on
    its own; what happened to each framework, then to each model."""
    outcomes = []
    for framework in UFDL.frameworks():
        outcomes.append(mirror.import_framework(SYSTEM, framework, dry_run=dry_run).outcome)
        uow.commit()
    for entry in UFDL.models():
        result = mirror.import_entry(SYSTEM, entry, dry_run=dry_run)
        outcomes.append(f"{result.model}, file {result.file}")
        uow.commit()
    return outcomes


def described(model: PretrainedModel) -> dict[str, Any]:
    """A model as the catalogue describes it."""
    return {
        "name": model.name,
        "framework": {"name": model.framework.name, "version": model.framework.version},
        "domain": model.domain.name,
        "licence": model.licence.name,
        "url": model.url,
        "description": model.description,
        "metadata": model.metadata,
        "source": model.source,
    }


def test_import_adds_the_frameworks_and_remote_models_and_fetches_nothing(
    mirror: Mirror, uow: MemoryUnitOfWork, store: MemoryBlobStore, fetcher: MemoryFetcher
) -> None:
    assert import_catalogue(mirror, uow) == ["created"] * 16 + ["created, file remote"] * 16
    frameworks = everything(uow.frameworks)
    assert [(f.pk, f.name, f.version) for f in frameworks] == [
        (pk, f["name"], f["version"]) for pk, f in enumerate(UFDL.frameworks(), 1)
    ]
    imported = everything(uow.models)
    assert [described(m) for m in imported] == UFDL.models()
    assert {(m.data_state, m.data, m.blob, m.source_sha256) for m in imported} == {
        ("remote", True, None, None)
    }
    assert all(m.creator is None and not m.is_deleted for m in imported)
    assert fetcher.opened == [] and list(store.stored()) == []


def test_importing_again_changes_nothing(
    mirror: Mirror, uow: MemoryUnitOfWork, fetcher: MemoryFetcher
) -> None:
    import_catalogue(mirror, uow)
    before = [described(m) for m in everything(uow.models)]
    assert import_catalogue(mirror, uow) == ["unchanged"] * 16 + ["unchanged, file remote"] * 16
    assert [described(m) for m in everything(uow.models)] == before
    assert len(everything(uow.frameworks)) == 16 and fetcher.opened == []


def test_a_dry_run_adds_nothing(mirror: Mirror, uow: MemoryUnitOfWork) -> None:
    assert import_catalogue(mirror, uow, dry_run=True) == (
        ["created"] * 16 + ["created, file remote"] * 16
    )
    assert everything(uow.frameworks) == [] and everything(uow.models) == []


def test_a_framework_entry_is_checked_as_a_manifests_and_needs_an_admin(
    mirror: Mirror, user: User, uow: MemoryUnitOfWork
) -> None:
    assert invalid_fields(lambda: mirror.import_framework(SYSTEM, {"name": " ", "version": 1})) == {
        "framework.name": [BLANK],
        "framework.version": [NOT_TEXT],
    }
    with pytest.raises(PermissionDenied):
        mirror.import_framework(user, {"name": "yolo", "version": "v5"})
    assert everything(uow.frameworks) == []


def test_import_keeps_what_is_there_and_fills_in_the_rest(
    mirror: Mirror,
    models: PretrainedModels,
    frameworks: Frameworks,
    admin: User,
    uow: MemoryUnitOfWork,
) -> None:
    """An existing framework is reused; a model edited here is set back to
    the catalogue's fields, and keeps what the catalogue does not give."""
    yolo = frameworks.create(admin, {"name": "yolo", "version": "v5"})
    entry = next(e for e in UFDL.models() if e["name"] == "yolov5m_v6.0")
    body = {**entry, "framework": yolo.pk, "licence": "MIT", "description": "mine"}
    pin = "ab" * 32
    mine = models.create(admin, {**body, "source_sha256": pin})
    uow.commit()
    outcomes = import_catalogue(mirror, uow)
    assert outcomes.count("created") == 15 and outcomes.count("unchanged") == 1
    assert outcomes.count("updated, file remote") == 1
    assert len(everything(uow.models)) == 16
    assert (mine.licence.name, mine.description, mine.source_sha256) == ("GPL3", "TODO", pin)


def test_seeded_licences_are_copies(uow: MemoryUnitOfWork, licences: Licences, admin: User) -> None:
    """Editing a seeded licence leaves the catalogue as it was."""
    stored = uow.licences.get_by_name("MIT")
    assert isinstance(stored, Licence)
    template = next(t for t in ufdl.LICENCES if t.name == "MIT")
    assert stored is not template
    edit = {"type": "permissions", "method": "add", "names": ["Anything"]}
    licences.edit_subdescriptors(admin, stored.pk, edit)  # type: ignore[arg-type]
    assert "Anything" not in template.permissions
