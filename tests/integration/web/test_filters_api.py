"""The filter language end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.integration.web.conftest import Api

LIST = "/v1/pretrained-models/list"


@pytest.fixture
def models(any_api: Api) -> dict[str, int]:
    """Five models; 'delta' has a file, 'echo' is soft-deleted."""
    torch = any_api.framework("pytorch", "2.4")["pk"]
    tf = any_api.framework("tensorflow", "2.15")["pk"]
    made = {}
    for name, framework, domain, description in (
        ("alpha", torch, "ic", "Image Net classifier"),
        ("bravo", torch, "od", "COCO detector"),
        ("charlie", tf, "od", "detector, small"),
        ("delta", tf, "sp", "speech model"),
        ("echo", torch, "ic", "old classifier"),
    ):
        made[name] = any_api.model(
            name=name, framework=framework, domain=domain, description=description
        )["pk"]
    any_api.upload(made["delta"], b"delta weights")
    any_api.app.delete(f"/v1/pretrained-models/{made['echo']}", headers=any_api.admin)
    return made


def names(api: Api, spec: dict) -> list[str]:
    return [m["name"] for m in api.app.post_json(LIST, spec, headers=api.user).json]


def test_expressions_select_exactly(any_api: Api, models: dict[str, int]) -> None:
    def check(spec: dict, expected: list[str]) -> None:
        assert names(any_api, spec) == expected, spec

    check({}, ["alpha", "bravo", "charlie", "delta"])
    check({"include_inactive": True}, ["alpha", "bravo", "charlie", "delta", "echo"])
    check(
        {"expressions": [{"type": "contains", "field": "description", "sub_string": "DETECTOR",
                          "case_insensitive": True}]},
        ["bravo", "charlie"],
    )  # fmt: skip
    check(
        {"expressions": [{"type": "contains", "field": "description", "sub_string": "DETECTOR"}]},
        [],
    )
    check(
        {"expressions": [{"type": "or", "sub_expressions": [
            {"type": "exact", "field": "name", "value": "alpha"},
            {"type": "and", "sub_expressions": [
                {"type": "exact", "field": "framework.name", "value": "tensorflow"},
                {"type": "exact", "field": "domain.name", "value": "od", "invert": True},
            ]},
        ]}]},
        ["alpha", "delta"],
    )  # fmt: skip
    check(
        {"expressions": [{"type": "compare", "field": "pk", "operator": ">=",
                          "value": models["charlie"]}]},
        ["charlie", "delta"],
    )  # fmt: skip
    check(
        {"expressions": [{"type": "is_null", "field": "deletion_time", "invert": True}],
         "include_inactive": True},
        ["echo"],
    )  # fmt: skip
    check({"expressions": [{"type": "exact", "field": "data", "value": True}]}, ["delta"])
    check(
        {"expressions": [{"type": "exact", "field": "domain.description",
                          "value": "object detection", "case_insensitive": True}]},
        ["bravo", "charlie"],
    )  # fmt: skip


def test_order_by_with_nulls_first(any_api: Api, models: dict[str, int]) -> None:
    def ordered(*keys: dict) -> list[str]:
        return names(any_api, {"include_inactive": True, "order_by": list(keys)})

    by_name = {"field": "name"}
    alive = ["alpha", "bravo", "charlie", "delta"]
    assert ordered({"field": "deletion_time", "nulls_first": False}, by_name) == ["echo", *alive]
    assert ordered({"field": "deletion_time", "nulls_first": True}, by_name) == [*alive, "echo"]
    # Unset: nulls sort as the largest values, the same on every database.
    assert ordered({"field": "deletion_time"}, by_name) == ["echo", *alive]
    descending = {"field": "deletion_time", "ascending": False}
    assert ordered(descending, by_name) == [*alive, "echo"]
    assert ordered({"field": "name", "ascending": False}) == ["echo", *reversed(alive)]


@pytest.mark.parametrize(
    "spec",
    [
        {"expressions": [{"type": "exact", "field": "creator.password", "value": "x"}]},
        {"expressions": [{"type": "exact", "field": "nope", "value": "x"}]},
        {"order_by": [{"field": "creator.password"}]},
        {"expressions": [{"type": "regex", "field": "name", "value": "x"}]},
        {"expressions": [{"type": "compare", "field": "pk", "operator": "!=", "value": 1}]},
        {"expressions": [{"type": "exact", "field": "pk", "value": "one"}]},
        {"expressions": [{"type": "and", "sub_expressions": []}]},
        {"expressions": "name"},
        [],
    ],
)
def test_bad_filters_are_400_with_a_message(api: Api, spec: object) -> None:
    response = api.app.post_json(LIST, spec, headers=api.user, status=400)
    assert isinstance(response.json["detail"], str) and response.json["detail"]
