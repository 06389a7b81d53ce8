"""The filter language: parsing against a whitelist, and in-memory evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.memory import accessors, matches, ordered
from domain import filters as f
from domain.errors import Invalid
from domain.filters import parse_filter
from domain.model import User
from domain.resources import PRETRAINED_MODEL, USER


def parse(raw: Any) -> f.FilterSpec:
    return parse_filter(raw, PRETRAINED_MODEL.filters)


def one(expression: dict[str, Any]) -> f.Expression:
    (parsed,) = parse({"expressions": [expression]}).expressions
    return parsed


def problem(raw: Any) -> str:
    with pytest.raises(Invalid) as caught:
        parse(raw)
    return caught.value.detail


def bad_expression(expression: Any) -> str:
    return problem({"expressions": [expression]})


# -- parsing: the happy paths -------------------------------------------------


@pytest.mark.parametrize("raw", [None, {}])
def test_absent_or_empty_spec_is_the_empty_spec(raw: Any) -> None:
    assert parse(raw) == f.FilterSpec((), (), include_inactive=False)


def test_exact() -> None:
    assert one({"type": "exact", "field": "name", "value": "yolo"}) == f.Exact("name", "yolo")
    assert one(
        {"type": "exact", "field": "name", "value": "YOLO", "case_insensitive": True}
    ) == f.Exact("name", "YOLO", case_insensitive=True)
    assert one({"type": "exact", "field": "pk", "value": 3}) == f.Exact("pk", 3)
    assert one({"type": "exact", "field": "data", "value": True}) == f.Exact("data", True)


def test_contains() -> None:
    assert one({"type": "contains", "field": "description", "sub_string": "det"}) == (
        f.Contains("description", "det")
    )
    assert one(
        {
            "type": "contains",
            "field": "framework.name",
            "sub_string": "Torch",
            "case_insensitive": True,
        }
    ) == f.Contains("framework.name", "Torch", case_insensitive=True)


@pytest.mark.parametrize("spelling", ["isnull", "is_null"])
def test_isnull_accepts_both_spellings(spelling: str) -> None:
    assert one({"type": spelling, "field": "deletion_time"}) == f.IsNull("deletion_time")


@pytest.mark.parametrize("operator", ["<", ">", "<=", ">="])
def test_compare_every_operator(operator: str) -> None:
    assert one({"type": "compare", "field": "pk", "operator": operator, "value": 2}) == (
        f.Compare("pk", operator, 2)
    )


def test_compare_timestamp_is_parsed_to_an_aware_datetime() -> None:
    parsed = one(
        {
            "type": "compare",
            "field": "creation_time",
            "operator": ">=",
            "value": "2026-11-26T23:42:27.123456Z",
        }
    )
    assert parsed == f.Compare(
        "creation_time", ">=", datetime(2026, 11, 26, 23, 42, 27, 123456, tzinfo=UTC)
    )


def test_naive_timestamp_is_taken_as_utc() -> None:
    parsed = one({"type": "exact", "field": "deletion_time", "value": "2026-01-02T03:04:05"})
    assert parsed == f.Exact("deletion_time", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


def test_timestamp_with_offset_keeps_the_instant() -> None:
    parsed = one({"type": "exact", "field": "creation_time", "value": "2026-01-02T05:04:05+02:00"})
    assert isinstance(parsed, f.Exact)
    assert parsed.value == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["exact", "contains", "isnull", "compare", "and", "or"])
def test_every_type_carries_invert(kind: str) -> None:
    leaf = {"type": "exact", "field": "name", "value": "x"}
    bodies = {
        "exact": leaf,
        "contains": {"type": "contains", "field": "name", "sub_string": "x"},
        "isnull": {"type": "isnull", "field": "creator"},
        "compare": {"type": "compare", "field": "pk", "operator": "<", "value": 1},
        "and": {"type": "and", "sub_expressions": [leaf]},
        "or": {"type": "or", "sub_expressions": [leaf]},
    }
    assert one({**bodies[kind], "invert": True}).invert is True
    assert one(bodies[kind]).invert is False


def test_nested_and_or() -> None:
    parsed = one(
        {
            "type": "or",
            "sub_expressions": [
                {
                    "type": "and",
                    "invert": True,
                    "sub_expressions": [
                        {"type": "exact", "field": "domain.name", "value": "od"},
                        {"type": "isnull", "field": "creator"},
                    ],
                },
                {"type": "contains", "field": "licence.name", "sub_string": "MIT"},
            ],
        }
    )
    assert parsed == f.Or(
        (
            f.And((f.Exact("domain.name", "od"), f.IsNull("creator")), invert=True),
            f.Contains("licence.name", "MIT"),
        )
    )


def test_order_by_and_include_inactive() -> None:
    spec = parse(
        {
            "order_by": [
                {"field": "framework.version"},
                {"field": "deletion_time", "ascending": False, "nulls_first": False},
                {"field": "name", "nulls_first": True},
                {"field": "pk", "nulls_first": None},
            ],
            "include_inactive": True,
        }
    )
    assert spec.order_by == (
        f.OrderBy("framework.version", ascending=True, nulls_first=None),
        f.OrderBy("deletion_time", ascending=False, nulls_first=False),
        f.OrderBy("name", ascending=True, nulls_first=True),
        f.OrderBy("pk"),
    )
    assert spec.include_inactive is True
    assert parse({}).include_inactive is False


def test_every_whitelisted_field_is_accepted() -> None:
    for name in PRETRAINED_MODEL.filters:
        spec = parse(
            {"expressions": [{"type": "isnull", "field": name}], "order_by": [{"field": name}]}
        )
        assert spec.expressions == (f.IsNull(name),)


# -- parsing: errors name the problem ------------------------------------------


@pytest.mark.parametrize("name", ["creator.password", "nope", "password", "framework.pk"])
def test_field_outside_the_whitelist(name: str) -> None:
    message = bad_expression({"type": "exact", "field": name, "value": "x"})
    assert repr(name) in message
    assert "cannot filter or order on field" in message
    assert "expressions[0]" in message


def test_order_by_field_outside_the_whitelist() -> None:
    message = problem({"order_by": [{"field": "creator.password"}]})
    assert "'creator.password'" in message
    assert "order_by[0]" in message


def test_missing_field() -> None:
    assert "'field' must be a string" in bad_expression({"type": "exact", "value": 1})


def test_unknown_type() -> None:
    message = bad_expression({"type": "regex", "field": "name", "value": ".*"})
    assert "unknown expression type 'regex'" in message
    assert "unknown expression type None" in bad_expression({"field": "name", "value": 1})


@pytest.mark.parametrize("operator", ["!=", "=", "==", "lt", None])
def test_unknown_operator(operator: Any) -> None:
    message = bad_expression({"type": "compare", "field": "pk", "operator": operator, "value": 1})
    assert f"unknown operator {operator!r}" in message


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ({"type": "exact", "field": "pk", "value": "1"}, "'pk'"),
        ({"type": "exact", "field": "pk", "value": True}, "'pk'"),
        ({"type": "exact", "field": "name", "value": 5}, "'name'"),
        ({"type": "exact", "field": "data", "value": "true"}, "'data'"),
        ({"type": "exact", "field": "data", "value": 1}, "'data'"),
        ({"type": "compare", "field": "creator", "operator": "<", "value": "3"}, "'creator'"),
        ({"type": "exact", "field": "creation_time", "value": 1700000000}, "'creation_time'"),
    ],
)
def test_value_of_the_wrong_type(expression: dict[str, Any], named: str) -> None:
    message = bad_expression(expression)
    assert "does not suit" in message
    assert named in message


def test_compare_on_a_boolean_field() -> None:
    message = bad_expression({"type": "compare", "field": "data", "operator": "<", "value": True})
    assert "cannot compare the boolean field 'data'" in message


def test_missing_value() -> None:
    assert "'value' is required" in bad_expression({"type": "exact", "field": "name"})


@pytest.mark.parametrize("name", ["pk", "creation_time", "data", "creator"])
def test_contains_on_a_non_text_field(name: str) -> None:
    message = bad_expression({"type": "contains", "field": name, "sub_string": "1"})
    assert f"'contains' needs a text field, not {name!r}" in message


def test_contains_needs_a_string() -> None:
    message = bad_expression({"type": "contains", "field": "name", "sub_string": 1})
    assert "'sub_string' must be a string" in message


@pytest.mark.parametrize("kind", ["and", "or"])
@pytest.mark.parametrize("subs", [[], None, "x", {}])
def test_empty_or_missing_sub_expressions(kind: str, subs: Any) -> None:
    raw: dict[str, Any] = {"type": kind}
    if subs is not None:
        raw["sub_expressions"] = subs
    message = bad_expression(raw)
    assert f"'{kind}' needs a non-empty list 'sub_expressions'" in message


def test_nested_error_says_where() -> None:
    message = bad_expression(
        {
            "type": "and",
            "sub_expressions": [
                {"type": "isnull", "field": "name"},
                {"type": "exact", "field": "nope", "value": 1},
            ],
        }
    )
    assert "expressions[0].sub_expressions[1]" in message
    assert "'nope'" in message


@pytest.mark.parametrize("raw", [[], "expressions", 3, True])
def test_spec_that_is_not_an_object(raw: Any) -> None:
    assert problem(raw) == "Filter specification must be a JSON object."


@pytest.mark.parametrize("expressions", [{}, "exact", None, 1])
def test_expressions_that_are_not_a_list(expressions: Any) -> None:
    assert problem({"expressions": expressions}) == "Filter 'expressions' must be a list."


def test_order_by_that_is_not_a_list() -> None:
    assert problem({"order_by": {"field": "pk"}}) == "Filter 'order_by' must be a list."


@pytest.mark.parametrize("item", ["pk", 1, None])
def test_expression_or_ordering_that_is_not_an_object(item: Any) -> None:
    assert "an expression must be a JSON object" in problem({"expressions": [item]})
    assert "an ordering must be a JSON object" in problem({"order_by": [item]})


@pytest.mark.parametrize("flag", ["invert", "case_insensitive"])
def test_flags_must_be_booleans(flag: str) -> None:
    message = bad_expression({"type": "exact", "field": "name", "value": "x", flag: "yes"})
    assert f"{flag!r} must be a boolean" in message


def test_order_flags_must_be_booleans() -> None:
    assert "'nulls_first' must be a boolean or null" in problem(
        {"order_by": [{"field": "pk", "nulls_first": "first"}]}
    )
    assert "'ascending' must be a boolean" in problem(
        {"order_by": [{"field": "pk", "ascending": 0}]}
    )


def test_include_inactive_must_be_a_boolean() -> None:
    assert problem({"include_inactive": "true"}) == "Filter 'include_inactive' must be a boolean."


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "", "26/11/2026"])
def test_bad_timestamp(text: str) -> None:
    message = bad_expression({"type": "exact", "field": "creation_time", "value": text})
    assert repr(text) in message
    assert "'creation_time'" in message


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_timestamp_outside_the_utc_range_is_invalid(text: str) -> None:
    message = bad_expression(
        {"type": "compare", "field": "creation_time", "operator": "<", "value": text}
    )
    assert "'creation_time'" in message


def test_timestamps_at_the_edges_of_the_utc_range_are_accepted() -> None:
    for text, expected in [
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        (
            "9999-12-31T23:59:59.999999+00:00",
            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        ("0001-01-01T00:00:00-01:00", datetime(1, 1, 1, 1, tzinfo=UTC)),
    ]:
        parsed = one({"type": "exact", "field": "creation_time", "value": text})
        assert isinstance(parsed, f.Exact)
        assert parsed.value == expected


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 2**40, 10**30, float("nan"), float("inf")])
def test_integer_fields_take_32_bit_integers_or_finite_floats(value: Any) -> None:
    """Primary keys and references are 32-bit columns: an integer no such
    column can hold is a 400, as is a float that is no number."""
    message = bad_expression({"type": "compare", "field": "pk", "operator": ">", "value": value})
    assert "'pk'" in message


def test_32_bit_integers_and_floats_are_accepted() -> None:
    for value in (2**31 - 1, -(2**31), 2.5, 1e300):
        assert one({"type": "exact", "field": "pk", "value": value}) == f.Exact("pk", value)


# -- caps: the same limits on every database ----------------------------------


def nested(depth: int) -> dict[str, Any]:
    """``depth`` ``and`` expressions, each inside the previous one."""
    expression: dict[str, Any] = {"type": "exact", "field": "name", "value": "x"}
    for _ in range(depth):
        expression = {"type": "and", "sub_expressions": [expression]}
    return expression


def test_and_or_nest_at_most_max_depth() -> None:
    assert isinstance(one(nested(f.MAX_DEPTH)), f.And)
    message = bad_expression(nested(f.MAX_DEPTH + 1))
    assert f"at most {f.MAX_DEPTH} deep" in message


def test_nesting_far_too_deep_is_refused_without_recursing() -> None:
    # Deeper than Python's recursion limit: refused, not a RecursionError.
    assert "deep" in bad_expression(nested(5000))


def test_a_spec_holds_at_most_max_expressions() -> None:
    leaf = {"type": "exact", "field": "name", "value": "x"}
    assert len(parse({"expressions": [leaf] * f.MAX_EXPRESSIONS}).expressions) == f.MAX_EXPRESSIONS
    for raw in (
        {"expressions": [leaf] * (f.MAX_EXPRESSIONS + 1)},
        {"expressions": [{"type": "or", "sub_expressions": [leaf] * f.MAX_EXPRESSIONS}]},
        {"expressions": [{"type": "or", "sub_expressions": [leaf] * 15000}]},
        {"expressions": [leaf] * 60 + [{"type": "and", "sub_expressions": [leaf] * 40}]},
    ):
        assert f"at most {f.MAX_EXPRESSIONS} expressions" in problem(raw)


def test_order_by_holds_at_most_max_order_by_entries() -> None:
    key = {"field": "name"}
    assert len(parse({"order_by": [key] * f.MAX_ORDER_BY}).order_by) == f.MAX_ORDER_BY
    assert f"at most {f.MAX_ORDER_BY}" in problem({"order_by": [key] * 20000})


@pytest.mark.parametrize("kind", ["exact", "contains"])
def test_text_values_hold_at_most_max_text_characters(kind: str) -> None:
    key = "value" if kind == "exact" else "sub_string"
    fine = {"type": kind, "field": "description", key: "x" * f.MAX_TEXT}
    expected = f.Exact if kind == "exact" else f.Contains
    assert one(fine) == expected("description", "x" * f.MAX_TEXT)
    message = bad_expression({**fine, key: "x" * 1_000_000})
    assert f"at most {f.MAX_TEXT} characters" in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\x00b", "Null characters are not allowed."),
        ("a\ud800b", "Surrogate characters are not allowed: U+D800."),
    ],
)
@pytest.mark.parametrize("kind", ["exact", "contains", "compare"])
def test_text_that_no_database_keeps_is_invalid(kind: str, text: str, message: str) -> None:
    key = "sub_string" if kind == "contains" else "value"
    expression = {"type": kind, "field": "name", key: text, "operator": "<"}
    assert message in bad_expression(expression)


# -- in-memory evaluation -------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)
USER_ACCESSORS = accessors(USER)


def people() -> list[User]:
    """Three users; ``nobody`` never logged in (a null ``last_login``)."""
    found = []
    for pk, (name, login) in enumerate(
        [("carol", T0 + timedelta(days=2)), ("nobody", None), ("alice", T0)], start=1
    ):
        person = User(name, last_login=login, pk=pk)
        found.append(person)
    return found


def names(entities: list[User]) -> list[str]:
    return [e.username for e in entities]


def selected(expression: f.Expression) -> list[str]:
    return [p.username for p in people() if matches(expression, p, USER_ACCESSORS)]


def test_comparison_with_null_is_false_and_its_inversion_true() -> None:
    later = f.Compare("last_login", ">", T0 + timedelta(days=1))
    assert selected(later) == ["carol"]
    assert selected(f.Compare("last_login", ">", T0 + timedelta(days=1), invert=True)) == [
        "nobody",
        "alice",
    ]
    assert selected(f.Exact("last_login", T0)) == ["alice"]
    assert selected(f.Exact("last_login", T0, invert=True)) == ["carol", "nobody"]


def test_isnull_and_its_inversion() -> None:
    assert selected(f.IsNull("last_login")) == ["nobody"]
    assert selected(f.IsNull("last_login", invert=True)) == ["carol", "alice"]


def test_exact_and_contains_case_sensitivity() -> None:
    assert selected(f.Exact("username", "ALICE")) == []
    assert selected(f.Exact("username", "ALICE", case_insensitive=True)) == ["alice"]
    assert selected(f.Contains("username", "AR")) == []
    assert selected(f.Contains("username", "AR", case_insensitive=True)) == ["carol"]
    assert selected(f.Contains("username", "o", invert=True)) == ["alice"]


def test_and_or_and_their_inversions() -> None:
    a = f.Contains("username", "a")
    c = f.Contains("username", "c")
    assert selected(f.And((a, c))) == ["carol", "alice"]
    assert selected(f.And((a, f.IsNull("last_login")))) == []
    assert selected(f.Or((f.Exact("pk", 2), f.Exact("pk", 3)))) == ["nobody", "alice"]
    assert selected(f.Or((f.Exact("pk", 2), f.Exact("pk", 3)), invert=True)) == ["carol"]
    assert selected(f.And((a, c), invert=True)) == ["nobody"]


@pytest.mark.parametrize(
    ("operator", "expected"),
    [("<", ["carol"]), ("<=", ["carol", "nobody"]), (">", ["alice"]), (">=", ["nobody", "alice"])],
)
def test_compare_operators(operator: str, expected: list[str]) -> None:
    assert selected(f.Compare("pk", operator, 2)) == expected


def test_effective_nulls_first() -> None:
    assert f.OrderBy("x").effective_nulls_first is False
    assert f.OrderBy("x", ascending=False).effective_nulls_first is True
    assert f.OrderBy("x", ascending=True, nulls_first=True).effective_nulls_first is True
    assert f.OrderBy("x", ascending=False, nulls_first=False).effective_nulls_first is False


@pytest.mark.parametrize(
    ("ascending", "nulls_first", "expected"),
    [
        (True, None, ["alice", "carol", "nobody"]),
        (False, None, ["nobody", "carol", "alice"]),
        (True, True, ["nobody", "alice", "carol"]),
        (False, False, ["carol", "alice", "nobody"]),
        (True, False, ["alice", "carol", "nobody"]),
        (False, True, ["nobody", "carol", "alice"]),
    ],
)
def test_ordering_places_nulls(
    ascending: bool, nulls_first: bool | None, expected: list[str]
) -> None:
    order = f.OrderBy("last_login", ascending, nulls_first)
    assert names(ordered(people(), [order], USER_ACCESSORS)) == expected


def test_ordering_precedence_then_pk() -> None:
    crowd = [User("b", is_staff=True, pk=3), User("a", pk=1), User("c", is_staff=True, pk=2)]
    by_staff = [f.OrderBy("is_staff", ascending=False)]
    assert names(ordered(crowd, by_staff, USER_ACCESSORS)) == ["c", "b", "a"]
    by_staff_then_name = [*by_staff, f.OrderBy("username")]
    assert names(ordered(crowd, by_staff_then_name, USER_ACCESSORS)) == ["b", "c", "a"]
    assert names(ordered(crowd, [f.OrderBy("username")], USER_ACCESSORS)) == ["a", "b", "c"]
    assert names(ordered(crowd, [], USER_ACCESSORS)) == ["a", "c", "b"]
