"""List operations in expressions: results, edge cases, refusals and their cost."""

from __future__ import annotations

from typing import Any

import pytest

from flov7.engine.expressions import evaluate, step_meter
from flov7.engine.expressions.limits import MAX_STEPS
from flov7.errors import ExpressionError

ORDERS = [
    {"id": 1, "open": True, "total": 30, "customer": {"id": "c1", "country": "fr"}},
    {"id": 2, "open": False, "total": 10, "customer": {"id": "c2", "country": "de"}},
    {"id": 3, "open": True, "total": None, "customer": {"id": "c1", "country": "fr"}},
    {"id": 4, "open": True, "total": 20, "customer": {"id": "c3", "country": 7}},
]


def ev(source: str) -> Any:
    return evaluate(source, {"inputs": {"orders": ORDERS, "tags": ["a", "b", "a"]}})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("pluck(inputs.orders, 'id')", [1, 2, 3, 4]),
        ("map(inputs.orders, 'customer.country')", ["fr", "de", "fr", 7]),
        ("pluck(inputs.orders, 'missing.deeper')", [None, None, None, None]),
        ("pluck(inputs.missing, 'id')", []),
        ("pluck(inputs.tags, '')", ["a", "b", "a"]),
        ("pluck(where(inputs.orders, 'open', true), 'id')", [1, 3, 4]),
        ("pluck(where(inputs.orders, 'customer.id', 'c1'), 'id')", [1, 3]),
        ("pluck(filter(inputs.orders, 'total'), 'id')", [1, 2, 4]),
        ("pluck(filter(inputs.orders, 'total', '>=', 20), 'id')", [1, 4]),
        ("pluck(filter(inputs.orders, 'id', 'in', [2, 4]), 'id')", [2, 4]),
        ("pluck(filter(inputs.orders, 'id', 'not in', [2, 4]), 'id')", [1, 3]),
        ("pluck(filter(inputs.orders, 'customer.country', '!=', 'fr'), 'id')", [2, 4]),
        ("filter(inputs.tags, '', '==', 'a')", ["a", "a"]),
        ("count(inputs.orders)", 4),
        ("count(inputs.orders, 'open')", 3),
        ("count(inputs.orders, 'customer.id', 'c1')", 2),
        ("pluck(sort_by(inputs.orders, 'total'), 'id')", [2, 4, 1, 3]),
        ("pluck(sort_by(inputs.orders, 'total', 'desc'), 'id')", [1, 4, 2, 3]),
        ("sort_by([3, 1, 2])", [1, 2, 3]),
        ("keys(group_by(inputs.orders, 'customer.country'))", ["fr", "de", "7"]),
        ("pluck(group_by(inputs.orders, 'customer.country').fr, 'id')", [1, 3]),
        ("count_by(inputs.orders, 'open')", {"true": 3, "false": 1}),
        ("keys(key_by(inputs.orders, 'customer.id'))", ["c1", "c2", "c3"]),
        ("key_by(inputs.orders, 'customer.id').c1.id", 3),
        ("unique(inputs.tags)", ["a", "b"]),
        ("pluck(unique(inputs.orders, 'customer.id'), 'id')", [1, 2, 4]),
        ("unique([[1], [1], {'a': 1}, {'a': 1}, 1, '1', true])", [[1], {"a": 1}, 1, "1", True]),
        ("flatten([[1, 2], [], [3], 4])", [1, 2, 3, 4]),
        ("chunk(range(5), 2)", [[0, 1], [2, 3], [4]]),
        ("chunk([], 3)", []),
        ("zip(pluck(inputs.orders, 'id'), inputs.tags)", [[1, "a"], [2, "b"], [3, "a"]]),
        ("sum_by(inputs.orders, 'total')", 60),
        ("sum(pluck(where(inputs.orders, 'open', true), 'id'))", 8),
        ("max(pluck(filter(inputs.orders, 'total'), 'total'))", 30),
    ],
)
def test_list_operations(source: str, expected: Any) -> None:
    assert ev(source) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("pluck(inputs.orders, '__class__')", "__"),
        ("pluck(inputs.orders, 'customer.__dict__')", "__"),
        ("pluck(inputs.orders, 'a..b')", "empty key"),
        ("pluck(inputs.orders, 3)", "path string"),
        ("pluck('text', 'id')", "needs a list"),
        ("filter(inputs.orders, 'id', '=~', 1)", "unknown operator"),
        ("sort_by(inputs.orders, 'customer')", "comparable"),
        ("sort_by(inputs.orders, 'id', 'up')", "'asc' or 'desc'"),
        ("group_by(inputs.orders, 'customer')", "key must be a string or number"),
        ("chunk(inputs.tags, 0)", "positive integer"),
        ("sum_by(inputs.orders, 'customer')", "needs numbers"),
        ("flatten(chunk(range(10000), 1) + [[1]])", "Too many items"),
    ],
)
def test_list_operation_errors(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(".", r"\.")):
        ev(source)


def test_list_operations_are_charged_per_element() -> None:
    big = {"inputs": {"rows": [{"v": index} for index in range(9000)]}}
    with step_meter() as meter:
        evaluate("pluck(inputs.rows, 'v')", big)
    assert meter.used >= 9000
    # A deep path costs once per key per element.
    deep = {"inputs": {"rows": [{"a": {"b": {"c": 1}}}] * 9000}}
    with step_meter() as deep_meter:
        evaluate("pluck(inputs.rows, 'a.b.c')", deep)
    assert deep_meter.used >= 3 * 9000


def test_chained_list_operations_run_out_of_budget() -> None:
    rows = {"inputs": {"rows": [{"v": index} for index in range(9000)]}}
    # Twelve passes over 9,000 elements exceed the 100,000-step budget of one evaluation.
    source = " + ".join(["count(inputs.rows, 'v')"] * 12)
    assert MAX_STEPS < 12 * 9000
    with pytest.raises(ExpressionError, match="too expensive"):
        evaluate(source, rows)


def test_list_operations_never_mutate_their_inputs() -> None:
    tags = ["b", "a"]
    evaluate("sort_by(inputs.tags)", {"inputs": {"tags": tags}})
    assert tags == ["b", "a"]
