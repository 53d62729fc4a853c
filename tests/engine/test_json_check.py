"""The JSON measure: exact sizes, early stops, shared references, plain-JSON checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flov7.engine.json_check import (
    MAX_JSON_NESTING,
    JsonTooLarge,
    NotPlainJson,
    measure_json,
)
from flov7.engine.payloads import (
    MAX_NODE_OUTPUT_BYTES,
    check_output,
    fit_result,
    json_size,
)


def dumps_size(value: Any, *, ascii: bool = True) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=ascii).encode())


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -12345678901234567890,
        1.5,
        1e300,
        -0.0,
        "",
        "plain",
        'quote " backslash \\ newline \n tab \t bell \x07',
        "é ü 你好 \u2028 😀",
        [],
        {},
        [1, [2, [3, []]], {"a": None}],
        {"k": [True, False, None], "é": {"nested": ["x" * 100, "x" * 100]}},
        ("tuple", 1),
    ],
)
def test_size_is_what_the_converter_writes(value: Any) -> None:
    assert measure_json(value, limit=10**6).size == dumps_size(value)
    chars = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    assert measure_json(value, limit=10**6, ascii=False).size == chars


def test_shared_references_are_charged_for_what_they_serialise_to() -> None:
    inner = ["x" * 100] * 10
    value = {"a": inner, "b": [inner, inner], "c": {"d": inner}}
    assert measure_json(value, limit=10**6).size == dumps_size(value)


def test_the_walk_stops_once_the_limit_is_passed() -> None:
    # 1,000 x 1,000 references to one 1 KB string: a terabyte... no, a gigabyte of JSON,
    # built in memory for the cost of two lists. The measure never goes past the limit.
    row = ["s" * 1000] * 1000
    table = [row] * 1000
    with pytest.raises(JsonTooLarge) as info:
        measure_json(table, limit=MAX_NODE_OUTPUT_BYTES)
    # One visit per value walked, and the limit is passed within the first row or two.
    assert info.value.visits < 2_100
    assert json_size(table, limit=MAX_NODE_OUTPUT_BYTES) == MAX_NODE_OUTPUT_BYTES + 1


def test_a_shared_deep_value_is_walked_once() -> None:
    leaf: Any = [0] * 100
    for _ in range(20):
        leaf = [leaf, leaf]  # 2**20 paths to the same 100 zeros
    with pytest.raises(JsonTooLarge) as info:
        measure_json(leaf, limit=10**6)
    assert info.value.visits < 20_000


@pytest.mark.parametrize(
    ("value", "problem", "path"),
    [
        ({1: "a", "b": 2}, "a dict key that is int, not a string", "$[1]"),
        ({"x": {None: 1}}, "a dict key that is null, not a string", "$.x[None]"),
        ({"x": [float("nan")]}, "a non-finite number (nan)", "$.x[0]"),
        ([float("inf")], "a non-finite number (inf)", "$[0]"),
        ({"s": "ok \ud800 lone"}, "a string with a lone surrogate (invalid Unicode)", "$.s"),
        ({"\udfff": 1}, "a string with a lone surrogate (invalid Unicode)", "$['\\udfff']"),
        ({"o": object()}, "a value of type object, not JSON", "$.o"),
        ({"b": b"bytes"}, "a value of type bytes, not JSON", "$.b"),
    ],
)
def test_strict_mode_names_the_problem_and_where(value: Any, problem: str, path: str) -> None:
    with pytest.raises(NotPlainJson) as info:
        measure_json(value, limit=10**6)
    assert info.value.problem == problem
    assert info.value.path == path


def test_depth_is_bounded_without_recursion() -> None:
    value: Any = []
    for _ in range(MAX_JSON_NESTING):
        value = [value]
    # MAX_JSON_NESTING + 1 levels of brackets (the innermost list counts too).
    with pytest.raises(NotPlainJson, match="nesting deeper than"):
        measure_json(value, limit=10**6)
    value = value[0]
    assert measure_json(value, limit=10**6).size == 2 * MAX_JSON_NESTING
    very_deep: Any = {}
    for _ in range(100_000):  # far past Python's recursion limit
        very_deep = {"a": very_deep}
    with pytest.raises(NotPlainJson, match="nesting deeper than"):
        measure_json(very_deep, limit=10**9)


def test_a_shared_value_is_checked_for_depth_where_it_appears_deepest() -> None:
    shallow: Any = []
    for _ in range(MAX_JSON_NESTING - 5):
        shallow = [shallow]
    wrapped: Any = shallow
    for _ in range(10):
        wrapped = [wrapped]
    with pytest.raises(NotPlainJson, match="nesting deeper than"):
        measure_json([shallow, wrapped], limit=10**6)


def test_a_value_that_contains_itself_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(NotPlainJson, match="contains itself"):
        measure_json(loop, limit=10**6)


def test_lenient_mode_measures_like_dumps_with_default_str() -> None:
    value = {1: "a", "b": 2, None: [True], 2.5: object.__name__}
    assert measure_json(value, limit=10**6, strict=False).size == dumps_size(value)


def test_check_output_names_the_node() -> None:
    check = check_output({1: "a"}, "n7")
    assert check.error is not None
    assert check.error["type"] == "InvalidOutput"
    assert check.error["message"].startswith("Node 'n7' produced an output that is not plain")
    big = check_output(["x" * 1000] * 2000, "n8")
    assert big.error is not None and big.error["type"] == "OutputTooLarge"
    assert "Node 'n8'" in big.error["message"]
    assert check_output({"fine": [1, 2.5, "é"]}, "n9").error is None


def test_fit_result_does_not_serialise_shared_outputs() -> None:
    shared = ["y" * 1000] * 900  # ~0.9 MB each, the same list in every node
    result = {
        "status": "completed",
        "node_results": {f"n{i}": {"status": "completed", "output": shared} for i in range(50)},
    }
    fitted = fit_result(result)
    assert len(fitted["truncated_outputs"]) == 49
    assert json_size(fitted) <= 1_500_000


class _Listing(list[Any]):
    pass


class _Text(str):
    __slots__ = ()


def test_subclasses_of_plain_types_measure_as_the_plain_ones() -> None:
    # The walk dispatches on exact types first (isinstance is slow in workflow code);
    # subclasses still take the isinstance path and measure the same.
    from collections import OrderedDict

    value = {
        "ordered": OrderedDict([("a", 1), ("b", [2, 3])]),
        "listing": _Listing([1, "two", {"three": None}]),
        "text": _Text("plain"),
        "long": _Text("y" * 100),
        "tuple": (1, (2, 3)),
    }
    assert measure_json(value, limit=10**6).size == dumps_size(value)


def test_a_mapping_that_is_no_dict_is_refused_in_strict_mode_only() -> None:
    from types import MappingProxyType

    value = {"m": MappingProxyType({"a": 1})}
    with pytest.raises(NotPlainJson) as info:
        measure_json(value, limit=10**6)
    assert info.value.problem == "a mapping of type mappingproxy, not a dict"
    assert info.value.path == "$.m"
    assert measure_json(value, limit=10**6, strict=False).size == len('{"m":{"a":1}}')
