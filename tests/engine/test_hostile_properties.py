"""Property-based tests (hypothesis) of the two promises hostile input relies on.

1. Any expression the language accepts finishes within its step budget, with bounded
   CPU and memory, and fails (if it fails) only with an ExpressionError.
2. Any value a node may output either serialises (with Temporal's own converter, and as
   strict UTF-8 JSON) or fails that node with a clear error; never the run machinery.
"""

from __future__ import annotations

import json
import math
import time
import tracemalloc
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.converter import DataConverter

from flov7.engine.driver import GraphDriver
from flov7.engine.expressions import MAX_NODE_STEPS, evaluate, step_meter
from flov7.engine.interpreter import Interpreter
from flov7.engine.payloads import MAX_NODE_OUTPUT_BYTES, check_output
from flov7.errors import ExpressionError
from flov7.local.runner import LocalNodeRunner
from flov7.nodes import registry as node_registry
from flov7.nodes.base import NodeConfig, NodeKind, NodeType
from flov7.spec import parse_workflow

# --- 1. expressions finish within their budget ------------------------------------------

SCOPE: dict[str, Any] = {
    "inputs": {
        "big": "a" * 100_000,
        "wide": chr(0x10000) * 50_000,
        "dotted": "İ" * 60_000,
        "sharp": "ß" * 60_000,
        "chars": "".join(chr(0x100 + i) for i in range(5_000)) + "a",
        "nums": list(range(10_000)),
        "words": ["w" * 500] * 5_000,
        "nested": [["x" * 100] * 100] * 50,
        "small": "Hello, World",
    },
    "input": {},
    "execution": {},
    "nodes": {},
}

LEAVES = st.sampled_from(
    [
        "inputs.big",
        "inputs.wide",
        "inputs.dotted",
        "inputs.sharp",
        "inputs.chars",
        "inputs.nums",
        "inputs.words",
        "inputs.nested",
        "inputs.small",
        "'a'",
        "'ab' * 1000",
        "'İ'",
        "'b' * 4000 + 'a'",
        "''",
        "' '",
        "1",
        "99",
        "100000",
        "-1",
        "[1, 2, 3]",
        "{'k': 'v'}",
        "null",
    ]
)
FUNCTIONS_1 = ["len", "str", "lower", "upper", "trim", "sorted", "reversed", "list",
               "json_encode", "int", "float", "sum", "min", "max", "keys", "values", "items",
               "any", "all", "split", "json_decode", "range"]  # fmt: skip
FUNCTIONS_2 = ["join", "split", "contains", "startswith", "endswith", "default", "get"]
METHODS_0 = ["lower", "upper", "title", "capitalize", "strip", "lstrip", "rstrip", "split", "keys"]
METHODS_1 = ["strip", "lstrip", "rstrip", "split", "join", "count", "find", "startswith",
             "endswith", "get", "index"]  # fmt: skip


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    one = st.tuples(st.sampled_from(FUNCTIONS_1), children).map(lambda t: f"{t[0]}({t[1]})")
    two = st.tuples(st.sampled_from(FUNCTIONS_2), children, children).map(
        lambda t: f"{t[0]}({t[1]}, {t[2]})"
    )
    method0 = st.tuples(children, st.sampled_from(METHODS_0)).map(lambda t: f"({t[0]}).{t[1]}()")
    method1 = st.tuples(children, st.sampled_from(METHODS_1), children).map(
        lambda t: f"({t[0]}).{t[1]}({t[2]})"
    )
    replace = st.tuples(children, children, children).map(
        lambda t: f"replace({t[0]}, {t[1]}, {t[2]})"
    )
    binary = st.tuples(children, st.sampled_from(["+", "*", "==", "<", "in"]), children).map(
        lambda t: f"({t[0]}) {t[1]} ({t[2]})"
    )
    sliced = st.tuples(children, st.integers(-5, 5), st.sampled_from(["", "-1", "2"])).map(
        lambda t: f"({t[0]})[{t[1]}:{t[2]}]"
    )
    listed = st.lists(children, min_size=1, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
    return st.one_of(one, two, method0, method1, replace, binary, sliced, listed)


EXPRESSIONS = st.recursive(LEAVES, combine, max_leaves=8)

CPU_BOUND_SECONDS = 2.0
"""Far above what a full node budget costs here (~0.4 s); only a runaway call passes it."""
MEMORY_BOUND_BYTES = 64 * 1024 * 1024


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(EXPRESSIONS)
def test_any_expression_finishes_within_its_budget(source: str) -> None:
    tracemalloc.start()
    started = time.process_time()
    try:
        refused = False
        with step_meter(MAX_NODE_STEPS) as meter:
            try:
                evaluate(source, SCOPE)
            except ExpressionError:
                refused = True  # refusals are fine; any other exception fails the test
        elapsed = time.process_time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if not refused:  # a refused call was charged (and stopped) before doing its work
        assert meter.used <= MAX_NODE_STEPS
    assert elapsed < CPU_BOUND_SECONDS, (source, elapsed, meter.used)
    assert peak < MEMORY_BOUND_BYTES, (source, peak)


# --- 2. any node output serialises or fails the node ------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=20),
    st.sampled_from(["\ud800", "a\udfffb", "😀", "\x00", '"', "\\"]),
)
KEYS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["\ud800", "k"]),
    st.integers(-3, 3),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, max_value=10, min_value=-10),
)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    shared = children.map(lambda child: [child] * 3)  # one reference, three places
    return st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(KEYS, children, max_size=4),
        shared,
    )


VALUES = st.recursive(SCALARS, containers, max_leaves=25)
CONVERTER = DataConverter.default.payload_converter


def deep(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = {"d": value}
    return value


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(VALUES, st.integers(95, 110).map(deep)))
def test_any_output_serialises_or_fails_the_node(value: Any) -> None:
    check = check_output(value, "n")
    if check.error is None:
        # Temporal's own converter (sort_keys, ensure_ascii) and strict UTF-8 JSON both work,
        # and the measured size is what the converter writes.
        payload = CONVERTER.to_payloads([value])[0]
        if payload.metadata["encoding"] == b"json/plain":  # None is binary/null, empty
            assert len(payload.data) == check.size
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)
        text.encode("utf-8")
        assert check.size <= MAX_NODE_OUTPUT_BYTES
    else:
        assert check.error["type"] in ("InvalidOutput", "OutputTooLarge")
        assert check.error["message"].startswith("Node 'n' produced")


class _Emit(NodeType):
    """A pure node that outputs whatever the test set in ``value``."""

    name = "test_emit"
    kind = NodeKind.PURE
    config_model = NodeConfig
    description = "test only"
    example: ClassVar[dict[str, Any]] = {}
    value: Any = None

    def evaluate(self, config: NodeConfig, scope: Any) -> Any:
        return type(self).value


@pytest.fixture(scope="module")
def emit_node() -> Any:
    node_registry.register(_Emit())
    yield _Emit
    node_registry.unregister(_Emit.name)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(VALUES)
async def test_the_driver_fails_the_node_never_the_run(emit_node: Any, value: Any) -> None:
    emit_node.value = value
    spec = parse_workflow(
        {
            "nodes": [
                {"id": "emit", "type": "test_emit", "on_error": "continue", "data": {}},
                {"id": "after", "type": "transform", "data": {"mapping": {"ok": "true"}}},
            ],
            "edges": [{"id": "e", "source": "emit", "target": "after"}],
        }
    )
    driver = GraphDriver(
        Interpreter(spec), LocalNodeRunner(), input_data={}, defaults=spec.defaults
    )
    result = await driver.run()
    CONVERTER.to_payloads([result])  # the result document always serialises
    emitted = result["node_results"]["emit"]
    if check_output(value).error is None:
        assert emitted["status"] == "completed"
    else:
        assert emitted["status"] == "failed"
        assert emitted["error"]["type"] in ("InvalidOutput", "OutputTooLarge")
    assert result["node_results"]["after"]["status"] == "completed"
    assert not (isinstance(value, float) and math.isnan(value) and emitted["status"] == "completed")
