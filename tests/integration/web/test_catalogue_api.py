"""Frameworks, domains and licences through WebTest."""

from __future__ import annotations

import json
from importlib.resources import files

from tests.integration.web.conftest import Api

# The facts the catalogue was taken from, as the UFDL server's API shows them.
CATALOGUE = files("domain.catalogue").joinpath("ufdl.json")


def test_frameworks_crud_and_uniqueness(any_api: Api) -> None:
    framework = any_api.framework("pytorch", "2.4")
    assert set(framework) == {"pk", "name", "version"}
    duplicate = any_api.app.post_json(
        "/v1/frameworks/create", {"name": "pytorch", "version": "2.4"},
        headers=any_api.admin, status=400,
    )  # fmt: skip
    assert duplicate.json == {
        "non_field_errors": ["The fields name, version must make a unique set."]
    }
    url = f"/v1/frameworks/{framework['pk']}"
    patched = any_api.app.patch_json(url, {"version": "2.5"}, headers=any_api.admin).json
    assert patched == {**framework, "version": "2.5"}
    listed = any_api.app.post_json(
        "/v1/frameworks/list",
        {"expressions": [{"type": "exact", "field": "name", "value": "pytorch"}]},
        headers=any_api.user,
    ).json
    assert listed == [patched]
    any_api.model(framework=framework["pk"])
    conflict = any_api.app.delete(url, headers=any_api.admin, status=409)
    assert "detail" in conflict.json


def test_domains_are_seeded_and_read_only(api: Api) -> None:
    domains = api.app.post("/v1/domains/list", headers=api.user).json
    assert {(d["name"], d["description"]) for d in domains} == {
        ("ic", "Image Classification"),
        ("od", "Object Detection"),
        ("is", "Image Segmentation"),
        ("sp", "Speech"),
        ("sc", "Spectrum Classification"),
    }
    first = domains[0]
    assert api.app.get(f"/v1/domains/{first['pk']}", headers=api.user).json == first
    api.app.post_json("/v1/domains/create", {"name": "x"}, headers=api.admin, status=404)
    api.app.delete(f"/v1/domains/{first['pk']}", headers=api.admin, status=405)


def test_licences_seeded_under_both_spellings(api: Api) -> None:
    licences = api.app.post("/v1/licences/list", headers=api.user).json
    assert api.app.post("/v1/licenses/list", headers=api.user).json == licences
    mit = next(licence for licence in licences if licence["name"] == "MIT")
    assert set(mit) == {"pk", "name", "url", "domains", "permissions", "limitations",
                        "conditions"}  # fmt: skip


def test_a_new_registry_has_ufdls_licences_as_ufdl_shows_them(any_api: Api) -> None:
    """The UFDL server's 14 licences, with its pks, names and subdescriptors,
    and none other: the SPDX-spelled ones earlier registries were seeded with
    are not (their identifiers are aliases, see the models' tests)."""
    ufdl = json.loads(CATALOGUE.read_text(encoding="utf-8"))["licences"]
    licences = any_api.app.post("/v1/licences/list", headers=any_api.user).json
    assert licences == ufdl
    assert {"Apache-2.0", "GPL-3.0", "CC-BY-NC-4.0", "proprietary"}.isdisjoint(
        licence["name"] for licence in licences
    )
    apache = any_api.app.get("/v1/licenses/2", headers=any_api.user).json
    assert apache == {
        "pk": 2,
        "name": "Apache 2.0",
        "url": "https://opensource.org/licenses/Apache-2.0",
        "domains": ["Software", "Models"],
        "permissions": ["Commercial use", "Patent use", "Modification", "Private use",
                        "Distribution"],
        "limitations": ["Liability", "Warranty", "Trademark use"],
        "conditions": ["State changes", "License and copyright notice"],
    }  # fmt: skip


def test_licence_crud_and_subdescriptors(api: Api) -> None:
    created = api.app.post_json(
        "/v1/licences/create", {"name": "Lab-1.0", "url": "https://lab.example/1"},
        headers=api.admin, status=201,
    ).json  # fmt: skip
    assert created["permissions"] == []
    url = f"/v1/licences/{created['pk']}"
    api.app.post_json(
        "/v1/licenses/create", {"name": "Lab-1.0", "url": "https://lab.example/1"},
        headers=api.admin, status=400,
    )  # fmt: skip
    edit = {"type": "permissions", "method": "add", "names": ["Research", "Teaching"]}
    licence = api.app.patch_json(url + "/subdescriptors", edit, headers=api.admin).json
    assert licence["permissions"] == ["Research", "Teaching"]
    edit = {"type": "permissions", "method": "remove", "names": ["Research"]}
    licence = api.app.patch_json(url + "/subdescriptors", edit, headers=api.admin).json
    assert licence["permissions"] == ["Teaching"]
    bad = {"type": "permissions", "method": "add", "names": "red"}
    errors = api.app.patch_json(url + "/subdescriptors", bad, headers=api.admin, status=400).json
    assert errors == {"names": ["Expected a list of strings."]}
    bad = {"type": "colours", "method": "paint", "names": ["red"]}
    errors = api.app.patch_json(url + "/subdescriptors", bad, headers=api.admin, status=400).json
    assert set(errors) == {"type", "method"}
    api.model(licence="Lab-1.0")
    api.app.delete(url, headers=api.admin, status=409)
