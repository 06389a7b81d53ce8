"""Frameworks, data domains, licences and the seed data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest

from adapters.memory import MemoryUnitOfWork
from domain.errors import Conflict, Invalid, NotAuthenticated, NotFound, PermissionDenied
from domain.model import Framework, Licence, PretrainedModel, User
from domain.services.domains import Domains
from domain.services.frameworks import Frameworks
from domain.services.licences import Licences
from domain.services.pretrained_models import PretrainedModels
from domain.services.seed import seed
from domain.validation import BAD_URL, BLANK, NOT_TEXT, REQUIRED, is_http_url, too_long
from tests.unit.conftest import everything

UNIQUE_FRAMEWORK = {"non_field_errors": ["The fields name, version must make a unique set."]}
SEEDED_DOMAINS = [
    ("ic", "Image Classification"),
    ("od", "Object Detection"),
    ("is", "Image Segmentation"),
    ("sp", "Speech"),
    ("sc", "Spectrum Classification"),
]
# UFDL's licences, spelled and ordered as the UFDL server seeds them.
SEEDED_LICENCES = [
    "AGPL3",
    "Apache 2.0",
    "BSD 2-clause",
    "BSD 3-clause",
    "CC0",
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "GPL2",
    "GPL3",
    "LGPL3",
    "MIT",
    "Mozilla Public License 2.0",
    "The Unlicense",
    "Proprietary",
]


def invalid_fields(action: Callable[[], Any]) -> dict[str, list[str]]:
    with pytest.raises(Invalid) as caught:
        action()
    return caught.value.fields


def fw(framework: Framework) -> tuple[int | None, str, str]:
    """What identifies a framework, to compare by value."""
    return (framework.pk, framework.name, framework.version)


def mit(uow: MemoryUnitOfWork) -> Licence:
    licence = uow.licences.get_by_name("MIT")
    assert licence is not None
    return licence


# -- frameworks -------------------------------------------------------------------


def test_framework_crud(frameworks: Frameworks, admin: User, user: User) -> None:
    created = frameworks.create(admin, {"name": "pytorch", "version": "2.1", "pk": 77})
    assert created.pk is not None and created.pk != 77
    assert (created.name, created.version) == ("pytorch", "2.1")
    assert fw(frameworks.retrieve(user, created.pk)) == (created.pk, "pytorch", "2.1")
    assert [fw(f) for f in frameworks.list(user)] == [(created.pk, "pytorch", "2.1")]

    frameworks.update(admin, created.pk, {"name": "torch", "version": "2.2"})
    assert (created.name, created.version) == ("torch", "2.2")
    frameworks.update(admin, created.pk, {"version": "2.3"}, partial=True)
    assert (created.name, created.version) == ("torch", "2.3")

    assert frameworks.destroy(admin, created.pk) is None
    with pytest.raises(NotFound):
        frameworks.retrieve(user, created.pk)
    assert frameworks.list(user) == []
    with pytest.raises(NotFound):
        frameworks.destroy(admin, created.pk)


def test_framework_list_filter(frameworks: Frameworks, admin: User, user: User) -> None:
    a = frameworks.create(admin, {"name": "onnx", "version": "1.15"})
    b = frameworks.create(admin, {"name": "tensorflow", "version": "2.14"})
    c = frameworks.create(admin, {"name": "onnx", "version": "1.16"})
    spec = {
        "expressions": [{"type": "exact", "field": "name", "value": "onnx"}],
        "order_by": [{"field": "version", "ascending": False}],
    }
    assert [fw(f) for f in frameworks.list(user, spec)] == [fw(c), fw(a)]
    by_name_desc = {"order_by": [{"field": "name", "ascending": False}]}
    assert [fw(f) for f in frameworks.list(user, by_name_desc)] == [
        (b.pk, "tensorflow", "2.14"),
        (a.pk, "onnx", "1.15"),
        (c.pk, "onnx", "1.16"),
    ]
    with pytest.raises(Invalid, match="'models'"):
        frameworks.list(user, {"expressions": [{"type": "isnull", "field": "models"}]})


def test_framework_name_and_version_are_unique_together(
    frameworks: Frameworks, admin: User, uow: MemoryUnitOfWork
) -> None:
    first = frameworks.create(admin, {"name": "onnx", "version": "1.15"})
    other_version = frameworks.create(admin, {"name": "onnx", "version": "1.16"})
    other_name = frameworks.create(admin, {"name": "onnxruntime", "version": "1.15"})
    dup = {"name": "onnx", "version": "1.15"}
    assert invalid_fields(lambda: frameworks.create(admin, dup)) == UNIQUE_FRAMEWORK
    assert [fw(f) for f in everything(uow.frameworks)] == [
        fw(first),
        fw(other_version),
        fw(other_name),
    ]
    assert (
        invalid_fields(
            lambda: frameworks.update(admin, other_version.pk, {"version": "1.15"}, partial=True)
        )
        == UNIQUE_FRAMEWORK
    )
    assert other_version.version == "1.16"
    assert invalid_fields(lambda: frameworks.update(admin, other_name.pk, dup)) == UNIQUE_FRAMEWORK
    assert other_name.name == "onnxruntime"
    # Saving a framework unchanged is no collision with itself.
    assert fw(frameworks.update(admin, first.pk, dup)) == (first.pk, "onnx", "1.15")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, {"name": [REQUIRED], "version": [REQUIRED]}),
        ({"name": "x"}, {"version": [REQUIRED]}),
        ({"name": " ", "version": "1"}, {"name": [BLANK]}),
        ({"name": "x" * 201, "version": "1"}, {"name": [too_long(200)]}),
        ({"name": "x", "version": "1" * 101}, {"version": [too_long(100)]}),
        ({"name": "x", "version": 1}, {"version": [NOT_TEXT]}),
    ],
)
def test_framework_validation(
    data: dict[str, Any], expected: dict[str, list[str]], frameworks: Frameworks, admin: User
) -> None:
    assert invalid_fields(lambda: frameworks.create(admin, data)) == expected


def test_framework_put_requires_both_fields(
    frameworks: Frameworks, admin: User, framework: Framework
) -> None:
    fields = invalid_fields(lambda: frameworks.update(admin, framework.pk, {"name": "x"}))
    assert fields == {"version": [REQUIRED]}
    assert framework.name == "pytorch"


@pytest.mark.parametrize("soft_deleted", [False, True])
def test_destroying_a_used_framework_conflicts(
    soft_deleted: bool,
    frameworks: Frameworks,
    models: PretrainedModels,
    admin: User,
    model: PretrainedModel,
    framework: Framework,
) -> None:
    if soft_deleted:
        models.soft_delete(admin, model.pk)
    with pytest.raises(Conflict):
        frameworks.destroy(admin, framework.pk)
    assert fw(frameworks.retrieve(admin, framework.pk)) == (framework.pk, "pytorch", "2.1")
    models.hard_delete(admin, model.pk)
    frameworks.destroy(admin, framework.pk)
    with pytest.raises(NotFound):
        frameworks.retrieve(admin, framework.pk)


def test_framework_get_or_create(
    frameworks: Frameworks, admin: User, framework: Framework, uow: MemoryUnitOfWork
) -> None:
    assert fw(frameworks.get_or_create(admin, "pytorch", "2.1")) == fw(framework)
    assert [fw(f) for f in everything(uow.frameworks)] == [(framework.pk, "pytorch", "2.1")]
    created = frameworks.get_or_create(admin, "pytorch", "2.2")
    assert created.pk is not None and created.pk != framework.pk
    assert (created.name, created.version) == ("pytorch", "2.2")
    assert fw(frameworks.get_or_create(admin, "pytorch", "2.2")) == fw(created)
    assert [fw(f) for f in everything(uow.frameworks)] == [fw(framework), fw(created)]


FRAMEWORK_ADMIN_ACTIONS: dict[str, Callable[[Frameworks, Any, int], Any]] = {
    "create": lambda s, a, pk: s.create(a, {"name": "jax", "version": "0.4"}),
    "update": lambda s, a, pk: s.update(a, pk, {"name": "jax", "version": "0.4"}),
    "partial_update": lambda s, a, pk: s.update(a, pk, {"name": "jax"}, partial=True),
    "destroy": lambda s, a, pk: s.destroy(a, pk),
    "get_or_create": lambda s, a, pk: s.get_or_create(a, "jax", "0.4"),
}
FRAMEWORK_READ_ACTIONS: dict[str, Callable[[Frameworks, Any, int], Any]] = {
    "list": lambda s, a, pk: s.list(a),
    "retrieve": lambda s, a, pk: s.retrieve(a, pk),
}


@pytest.mark.parametrize("action", {**FRAMEWORK_ADMIN_ACTIONS, **FRAMEWORK_READ_ACTIONS})
def test_framework_permissions(
    action: str,
    frameworks: Frameworks,
    framework: Framework,
    anonymous: None,
    inactive: User,
    user: User,
    admin: User,
    uow: MemoryUnitOfWork,
) -> None:
    call = {**FRAMEWORK_ADMIN_ACTIONS, **FRAMEWORK_READ_ACTIONS}[action]
    for actor in (anonymous, inactive):
        with pytest.raises(NotAuthenticated):
            call(frameworks, actor, framework.pk)
    if action in FRAMEWORK_ADMIN_ACTIONS:
        with pytest.raises(PermissionDenied):
            call(frameworks, user, framework.pk)
        assert [fw(f) for f in everything(uow.frameworks)] == [(framework.pk, "pytorch", "2.1")]
    else:
        call(frameworks, user, framework.pk)
    call(frameworks, admin, framework.pk)


# -- domains ------------------------------------------------------------------------


def test_domains_are_seeded(domains: Domains, user: User) -> None:
    assert [(d.name, d.description) for d in domains.list(user)] == SEEDED_DOMAINS


def test_domain_retrieve_and_filter(domains: Domains, user: User) -> None:
    speech = domains.list(
        user, {"expressions": [{"type": "exact", "field": "name", "value": "sp"}]}
    )
    assert [d.description for d in speech] == ["Speech"]
    retrieved = domains.retrieve(user, speech[0].pk)
    assert (retrieved.pk, retrieved.name, retrieved.description) == (speech[0].pk, "sp", "Speech")
    images = {
        "expressions": [
            {
                "type": "contains",
                "field": "description",
                "sub_string": "image",
                "case_insensitive": True,
            }
        ],
        "order_by": [{"field": "description"}],
    }
    assert [d.name for d in domains.list(user, images)] == ["ic", "is"]
    with pytest.raises(NotFound):
        domains.retrieve(user, 999)
    with pytest.raises(Invalid, match="'licence'"):
        domains.list(user, {"order_by": [{"field": "licence"}]})


@pytest.mark.parametrize("who", ["anonymous", "inactive"])
def test_domains_need_authentication(
    who: str, request: pytest.FixtureRequest, domains: Domains
) -> None:
    actor = request.getfixturevalue(who)
    with pytest.raises(NotAuthenticated):
        domains.list(actor)
    with pytest.raises(NotAuthenticated):
        domains.retrieve(actor, 1)


# -- licences ----------------------------------------------------------------------


def test_licences_are_seeded(licences: Licences, user: User) -> None:
    seeded = licences.list(user)
    assert [lic.name for lic in seeded] == SEEDED_LICENCES
    assert [lic.pk for lic in seeded] == list(range(1, 15))  # UFDL's pks
    apache = seeded[1]
    assert (apache.name, apache.url) == ("Apache 2.0", "https://opensource.org/licenses/Apache-2.0")
    assert apache.permissions == [
        "Commercial use",
        "Patent use",
        "Modification",
        "Private use",
        "Distribution",
    ]
    assert apache.limitations == ["Liability", "Warranty", "Trademark use"]
    assert apache.conditions == ["State changes", "License and copyright notice"]
    assert apache.domains == ["Software", "Models"]
    assert all(is_http_url(lic.url) for lic in seeded)
    assert asdict(licences.retrieve(user, apache.pk)) == asdict(apache)


def test_licence_create_update_destroy(licences: Licences, admin: User, user: User) -> None:
    created = licences.create(admin, {"name": "ISC", "url": "https://isc.org/"})
    assert (created.name, created.url) == ("ISC", "https://isc.org/")
    assert (created.domains, created.permissions, created.limitations, created.conditions) == (
        [],
        [],
        [],
        [],
    )
    by_name = {"expressions": [{"type": "exact", "field": "name", "value": "ISC"}]}
    assert [(lic.pk, lic.name) for lic in licences.list(user, by_name)] == [(created.pk, "ISC")]
    licences.update(admin, created.pk, {"name": "ISC License", "url": "https://i.org/"})
    assert (created.name, created.url) == ("ISC License", "https://i.org/")
    licences.update(admin, created.pk, {"url": "http://isc.org"}, partial=True)
    assert (created.name, created.url) == ("ISC License", "http://isc.org")
    licences.destroy(admin, created.pk)
    with pytest.raises(NotFound):
        licences.retrieve(user, created.pk)


def test_licence_name_is_unique(licences: Licences, admin: User, uow: MemoryUnitOfWork) -> None:
    taken = {"name": ["licence with this name already exists."]}
    dup = {"name": "MIT", "url": "https://example.org/mit"}
    assert invalid_fields(lambda: licences.create(admin, dup)) == taken
    assert [lic.name for lic in everything(uow.licences)] == SEEDED_LICENCES
    created = licences.create(admin, {"name": "WTFPL", "url": "http://www.wtfpl.net/"})
    assert (
        invalid_fields(lambda: licences.update(admin, created.pk, {"name": "MIT"}, partial=True))
        == taken
    )
    assert created.name == "WTFPL"
    kept = licences.update(admin, created.pk, {"name": "WTFPL"}, partial=True)
    assert (kept.pk, kept.name) == (created.pk, "WTFPL")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, {"name": [REQUIRED], "url": [REQUIRED]}),
        ({"name": "X", "url": "ftp://example.org"}, {"url": [BAD_URL]}),
        ({"name": "X", "url": "https://e.org/" + "x" * 187}, {"url": [too_long(200)]}),
        ({"name": "", "url": "https://e.org"}, {"name": [BLANK]}),
        ({"name": "n" * 101, "url": "https://e.org"}, {"name": [too_long(100)]}),
    ],
)
def test_licence_validation(
    data: dict[str, Any], expected: dict[str, list[str]], licences: Licences, admin: User
) -> None:
    assert invalid_fields(lambda: licences.create(admin, data)) == expected


@pytest.mark.parametrize("soft_deleted", [False, True])
def test_destroying_a_used_licence_conflicts(
    soft_deleted: bool,
    licences: Licences,
    models: PretrainedModels,
    admin: User,
    model: PretrainedModel,
    uow: MemoryUnitOfWork,
) -> None:
    if soft_deleted:
        models.soft_delete(admin, model.pk)
    with pytest.raises(Conflict):
        licences.destroy(admin, mit(uow).pk)
    assert (model.licence.pk, model.licence.name) == (mit(uow).pk, "MIT")
    licences.destroy(admin, uow.licences.get_by_name("GPL3").pk)
    assert uow.licences.get_by_name("GPL3") is None


def test_subdescriptors_add_and_remove(
    licences: Licences, admin: User, uow: MemoryUnitOfWork
) -> None:
    licence = mit(uow)
    assert licence.permissions == ["Commercial use", "Modification", "Private use", "Distribution"]
    edit = {"type": "permissions", "method": "add", "names": ["Patent use", "Sublicensing"]}
    edited = licences.edit_subdescriptors(admin, licence.pk, edit)
    assert (edited.pk, edited.name) == (licence.pk, "MIT")
    assert edited.permissions[-2:] == ["Patent use", "Sublicensing"]
    remove = {"type": "permissions", "method": "remove", "names": ["Modification", "absent"]}
    licences.edit_subdescriptors(admin, licence.pk, remove)
    assert licence.permissions == [
        "Commercial use",
        "Private use",
        "Distribution",
        "Patent use",
        "Sublicensing",
    ]
    licences.edit_subdescriptors(
        admin, licence.pk, {"type": "domains", "method": "add", "names": ["ic", "od"]}
    )
    assert licence.domains == ["Software", "Models", "ic", "od"]
    assert licence.limitations == ["Liability", "Warranty"]


def test_subdescriptors_add_no_duplicates(
    licences: Licences, admin: User, uow: MemoryUnitOfWork
) -> None:
    licence = mit(uow)
    edit = {
        "type": "conditions",
        "method": "add",
        "names": ["Disclose source", "License and copyright notice", "Disclose source"],
    }
    licences.edit_subdescriptors(admin, licence.pk, edit)
    licences.edit_subdescriptors(admin, licence.pk, edit)
    assert licence.conditions == ["License and copyright notice", "Disclose source"]


@pytest.mark.parametrize(
    ("data", "bad"),
    [
        ({"type": "colours", "method": "add", "names": ["x"]}, {"type"}),
        ({"type": "name", "method": "add", "names": ["x"]}, {"type"}),
        ({"method": "add", "names": ["x"]}, {"type"}),
        ({"type": "domains", "method": "replace", "names": ["x"]}, {"method"}),
        ({"type": "domains", "names": ["x"]}, {"method"}),
        ({"type": "domains", "method": "add"}, {"names"}),
        ({"type": "domains", "method": "add", "names": "ic"}, {"names"}),
        ({"type": "domains", "method": "add", "names": ["ic", 2]}, {"names"}),
        ({"type": "domains", "method": "add", "names": ["ic", " "]}, {"names"}),
        ({"type": "domains", "method": "add", "names": [None]}, {"names"}),
        ({}, {"type", "method", "names"}),
    ],
)
def test_subdescriptors_bad_input(
    data: dict[str, Any], bad: set[str], licences: Licences, admin: User, uow: MemoryUnitOfWork
) -> None:
    licence = mit(uow)
    before = (
        licence.domains[:],
        licence.permissions[:],
        licence.limitations[:],
        licence.conditions[:],
    )
    fields = invalid_fields(lambda: licences.edit_subdescriptors(admin, licence.pk, data))
    assert set(fields) == bad
    if "names" in bad and "names" in data:
        assert fields["names"] == ["Expected a list of non-empty strings."]
    assert (licence.domains, licence.permissions, licence.limitations, licence.conditions) == before


LICENCE_ADMIN_ACTIONS: dict[str, Callable[[Licences, Any, int], Any]] = {
    "create": lambda s, a, pk: s.create(a, {"name": "X", "url": "https://x.org"}),
    "update": lambda s, a, pk: s.update(a, pk, {"name": "X", "url": "https://x.org"}),
    "partial_update": lambda s, a, pk: s.update(a, pk, {"name": "X"}, partial=True),
    "destroy": lambda s, a, pk: s.destroy(a, pk),
    "subdescriptors": lambda s, a, pk: s.edit_subdescriptors(
        a, pk, {"type": "domains", "method": "add", "names": ["ic"]}
    ),
}


@pytest.mark.parametrize("action", LICENCE_ADMIN_ACTIONS)
def test_licence_admin_actions(
    action: str,
    licences: Licences,
    anonymous: None,
    inactive: User,
    user: User,
    admin: User,
    uow: MemoryUnitOfWork,
) -> None:
    call = LICENCE_ADMIN_ACTIONS[action]
    pk = mit(uow).pk
    domains = list(mit(uow).domains)
    for actor, error in (
        (anonymous, NotAuthenticated),
        (inactive, NotAuthenticated),
        (user, PermissionDenied),
    ):
        with pytest.raises(error):
            call(licences, actor, pk)
    assert mit(uow).domains == domains
    assert [lic.name for lic in everything(uow.licences)] == SEEDED_LICENCES
    call(licences, admin, pk)


@pytest.mark.parametrize("who", ["anonymous", "inactive"])
def test_licences_reads_need_authentication(
    who: str, request: pytest.FixtureRequest, licences: Licences, uow: MemoryUnitOfWork
) -> None:
    actor = request.getfixturevalue(who)
    with pytest.raises(NotAuthenticated):
        licences.list(actor)
    with pytest.raises(NotAuthenticated):
        licences.retrieve(actor, mit(uow).pk)


# -- seed -----------------------------------------------------------------------------


def test_seed_is_idempotent() -> None:
    uow = MemoryUnitOfWork()
    assert seed(uow) == len(SEEDED_DOMAINS) + len(SEEDED_LICENCES)
    domains = [asdict(d) for d in everything(uow.domains)]
    licences = [asdict(lic) for lic in everything(uow.licences)]
    assert [(d["name"], d["description"]) for d in domains] == SEEDED_DOMAINS
    assert [lic["name"] for lic in licences] == SEEDED_LICENCES
    assert seed(uow) == 0
    assert [asdict(d) for d in everything(uow.domains)] == domains
    assert [asdict(lic) for lic in everything(uow.licences)] == licences


def test_seed_adds_only_what_is_missing_and_keeps_edits(admin: User, uow: MemoryUnitOfWork) -> None:
    service = Licences(uow)
    service.update(admin, mit(uow).pk, {"url": "https://mit.example"}, partial=True)
    service.destroy(admin, uow.licences.get_by_name("GPL3").pk)
    assert seed(uow) == 1
    assert uow.licences.get_by_name("GPL3") is not None
    assert mit(uow).url == "https://mit.example"
    assert [lic.name for lic in everything(uow.licences)].count("MIT") == 1


def test_seeded_licences_do_not_share_lists(
    licences: Licences, admin: User, uow: MemoryUnitOfWork
) -> None:
    """Editing a seeded licence in one registry leaves a new registry pristine."""
    licences.edit_subdescriptors(
        admin, mit(uow).pk, {"type": "permissions", "method": "add", "names": ["Anything"]}
    )
    licences.edit_subdescriptors(
        admin, mit(uow).pk, {"type": "limitations", "method": "remove", "names": ["Liability"]}
    )
    fresh = MemoryUnitOfWork()
    seed(fresh)
    assert "Anything" not in mit(fresh).permissions
    assert "Liability" in mit(fresh).limitations
