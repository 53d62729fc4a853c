"""Expression cost is measured by the work done: charged from sizes, before the work.

Each test asserts on counts (steps charged, characters, bytes allocated), never on time.
The first ones are regressions: on the old code a call was charged one step whatever
it touched (``strip(chars)`` ran for seconds on one step), and case mapping could return
twice the string limit.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from flov7.engine import expressions as ex
from flov7.engine.expressions import evaluate, step_meter
from flov7.engine.expressions.functions import FUNCTIONS, SMALL_CHAR_SET
from flov7.engine.expressions.methods import ALL_METHODS
from flov7.engine.expressions.values import search_cost
from flov7.errors import ExpressionError


def steps_of(source: str, scope: dict[str, Any] | None = None) -> tuple[int, Any]:
    """(steps charged, value or the ExpressionError) of one evaluation."""
    with step_meter(10**12) as meter:
        try:
            value: Any = evaluate(source, scope or {})
        except ExpressionError as exc:
            value = exc
    return meter.used, value


# --- regressions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "lower('İ' * 100000)",
        "('İ' * 100000).lower()",
        "upper('ß' * 60000)",
        "('ß' * 60000).upper()",
        "('ΐ' * 40000).upper()",
        "(' ß' * 40000).title()",
    ],
)
def test_case_mapping_stays_within_the_string_limit(source: str) -> None:
    with pytest.raises(ExpressionError, match="String too long"):
        evaluate(source, {})


def test_case_mapping_just_under_the_limit_works() -> None:
    assert evaluate("len(upper('ß' * 50000))", {}) == ex.MAX_STR_LENGTH
    assert evaluate("len(('İ' * 50000).lower())", {}) == ex.MAX_STR_LENGTH


def test_strip_with_chars_is_charged_by_text_times_chars() -> None:
    # CPython checks every stripped character against every character of ``chars``.
    steps, value = steps_of("('a' * 100000).strip('b' * 4000 + 'a')")
    assert value == ""
    # Duplicates are dropped first ('b' * 4000 + 'a' is two distinct characters), and the
    # rest is charged: 100,000 characters x 2 at 100 characters a step.
    assert steps >= 100_000 * 2 // 100


def test_strip_of_the_whole_text_against_a_long_chars_argument_is_charged() -> None:
    steps, value = steps_of("('a' * 100000).strip('b' * 100000)")
    assert value == "a" * 100_000
    # The chars argument is read once (100,000 at 100 a step), deduplicated to 'b', and
    # the strip is charged text x distinct characters.
    assert steps >= 100_000 // 100 + 100_000 // 100


def test_strip_with_a_large_set_of_characters_is_bounded_and_charged() -> None:
    # The slow case of CPython's strip: wide characters (no memchr) and many distinct ones.
    wide = "".join(chr(0x10000 + i) for i in range(20_000))
    scope = {"inputs": {"text": chr(0x10000) * 99_999 + "!", "chars": wide}}
    for method in ("strip", "lstrip", "rstrip"):
        steps, value = steps_of(f"inputs.text.{method}(inputs.chars)", scope)
        expected = {"strip": "!", "lstrip": "!", "rstrip": scope["inputs"]["text"]}[method]
        assert value == expected
    steps, _ = steps_of("inputs.text.lstrip(inputs.chars)", scope)
    assert steps >= 99_999 // 10  # one step per ten characters looked at, in Python
    # A budget that cannot pay for it stops it before it has looked at everything.
    with step_meter(5_000), pytest.raises(ExpressionError, match="too expensive"):
        evaluate("inputs.text.lstrip(inputs.chars)", scope)


def test_strip_of_a_large_set_over_the_budget_is_refused() -> None:
    scope = {"inputs": {"text": "a" * 1_000_000, "chars": "bcdefghijklmnopa"}}
    assert len("bcdefghijklmnopa") == SMALL_CHAR_SET
    with pytest.raises(ExpressionError, match="too expensive"):
        evaluate("inputs.text.rstrip(inputs.chars)", scope)


def test_str_of_shared_references_never_builds_the_text() -> None:
    # 20 x 1,000 references to one 1 KB string: 20 MB of JSON for a few hundred bytes of
    # memory. str() and json_encode() refuse it having measured, not built, the text.
    scope = {"inputs": {"table": [["x" * 1000] * 1000] * 20}}
    for source in ("str(inputs.table)", "json_encode(inputs.table)", "join(',', inputs.table)"):
        tracemalloc.start()
        try:
            with pytest.raises(ExpressionError, match="String too long"):
                evaluate(source, scope)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 2_000_000, (source, peak)


def test_templates_measure_before_rendering() -> None:
    scope = {"inputs": {"table": [["x" * 1000] * 1000] * 20}}
    with pytest.raises(ExpressionError, match=r"^In template .*String too long"):
        ex.render_template("rows: {{ inputs.table }}", scope)


# --- every function and method is charged by size ----------------------------------------

BIG = "a" * 100_000
SCOPE = {
    "inputs": {
        "big": BIG,
        "needle": "a" * 98 + "b",
        "words": ["w" * 1000] * 10_000,
        "nums": list(range(10_000)),
        "nested": [["x" * 100] * 100] * 5,
        "rows": [{"id": i, "kind": i % 7, "tags": ["a", "b"]} for i in range(10_000)],
    }
}


@pytest.mark.parametrize(
    ("source", "at_least"),
    [
        # Substring searches: n * m at worst for needles under 100 characters.
        ("inputs.big[:29000].count(inputs.needle)", search_cost(29_000, 99) // 1000),
        ("inputs.big[:29000].find(inputs.needle)", search_cost(29_000, 99) // 1000),
        ("inputs.needle in inputs.big[:29000]", search_cost(29_000, 99) // 1000),
        ("contains(inputs.big[:29000], inputs.needle)", search_cost(29_000, 99) // 1000),
        ("replace(inputs.big, 'a', 'b')", 100_000 * 2 // 1000),
        ("inputs.big.replace('aa', 'b')", 100_000 // 1000),
        ("len(inputs.big.split('a', 5))", 100_000 // 1000),
        ("len(split(inputs.big, 'b'))", 100_000 // 1000),
        ("upper(inputs.big)", 100_000 * 2 // 100),
        ("inputs.big.title()", 100_000 * 2 // 100),
        ("trim(inputs.big)", 100_000 // 1000),
        ("inputs.big.strip('ab')", 100_000 * 2 // 100),
        ("len(inputs.big[1:])", 99_999 // 1000),
        ("len(inputs.big[1:] + 'x')", 100_000 // 1000),
        ("len('ab' * 50000)", 100_000 // 1000),
        ("inputs.big.startswith(inputs.big)", 100_000 // 1000),
        ("inputs.big.endswith([inputs.big, 'a'])", 100_000 // 1000),
        ("startswith(inputs.big, inputs.big)", 100_000 // 1000),
        ("inputs.big == inputs.big[:]", 100_000 // 1000),
        ("int(' ' * 99990 + '1')", 99_991 // 1000),
        ("len(join('', inputs.words[:99]))", 99_000 // 1000),
        ("len(str(inputs.nested))", 5 * 100 * 100 // 100),
        ("len(json_encode(inputs.nested))", 5 * 100 * 100 // 100),
        ("len(sorted(inputs.nums))", 10_000 + 10_000 * 14 // 16),
        ("len(sorted(inputs.words[:100]))", 100 * 7 * 1000 // 1000),
        ("max(inputs.words)", 10_000 * 1000 // 1000),
        ("min(inputs.nums)", 10_000),
        ("inputs.words.count('w' * 1000)", 10_000 * 1000 // 1000),
        ("inputs.words.index('w' * 1000)", 10_000 * 1000 // 1000),
        ("'w' * 1000 in inputs.words", 10_000 * 1000 // 1000),
        ("inputs.nested == inputs.nested[:]", 5 * 100),
        # List operations (for n8n-style item transformations): one step per item.
        ("len(pluck(inputs.rows, 'id'))", 10_000),
        ("len(map(inputs.rows, 'id'))", 10_000),
        ("len(where(inputs.rows, 'kind', 3))", 10_000),
        ("len(filter(inputs.rows, 'kind', '==', 3))", 10_000),
        ("count(inputs.rows)", 10_000),
        ("sum_by(inputs.rows, 'id')", 10_000),
        ("len(sort_by(inputs.rows, 'kind'))", 10_000),
        ("len(group_by(inputs.rows, 'kind'))", 10_000),
        ("len(count_by(inputs.rows, 'kind'))", 10_000),
        ("len(key_by(inputs.rows, 'id'))", 10_000),
        ("len(unique(inputs.nums))", 10_000),
        ("len(flatten(pluck(inputs.rows[:4000], 'tags')))", 8_000),
        ("len(chunk(inputs.nums, 10))", 10_000),
        ("len(zip(inputs.nums[:5000], inputs.nums[:5000]))", 5_000),
    ],
)
def test_each_call_is_charged_by_the_sizes_it_touches(source: str, at_least: int) -> None:
    steps, value = steps_of(source, SCOPE)
    assert not isinstance(value, ExpressionError), value
    assert steps >= at_least, (source, steps)


# --- limits hold for every function and method ------------------------------------------

STRING_PRODUCERS = [
    "str(inputs.big + inputs.big)",
    "lower(inputs.big + 'İ')",
    "upper(inputs.big + 'ß')",
    "trim(' ' + inputs.big + 'x' * 10)",
    "join('', [inputs.big, 'x'])",
    "join('--', [inputs.big[:50000], inputs.big[:50000]])",
    "replace(inputs.big, 'a', 'aa')",
    "json_encode([inputs.big])",
    "(inputs.big + 'ß').upper()",
    "(inputs.big + 'İ').lower()",
    "(inputs.big + 'ß').title()",
    "(inputs.big + 'ß').capitalize()",
    "inputs.big.replace('a', 'ab', 1) + 'x'",
    "inputs.big[:-1] + 'xy'",
    "inputs.huge.strip()",
    "inputs.huge.strip('b')",
    "inputs.huge.lstrip('bcd')",
    "inputs.huge.rstrip(inputs.chars)",
    "inputs.huge[0:]",
    "lower(inputs.huge)",
    "',' + inputs.big",
]


@pytest.mark.parametrize("source", STRING_PRODUCERS)
def test_no_call_builds_a_string_over_the_limit(source: str) -> None:
    scope = {
        "inputs": {
            "big": BIG,
            "huge": "a" * (ex.MAX_STR_LENGTH * 3),
            "chars": "".join(chr(0x100 + i) for i in range(100)),
        }
    }
    _, value = steps_of(source, scope)
    if isinstance(value, ExpressionError):
        assert "too long" in str(value) or "too expensive" in str(value), value
    else:
        assert len(value) <= ex.MAX_STR_LENGTH, source


def test_every_function_and_method_is_covered_by_these_tests() -> None:
    # A new function or method must be added to the cost tests above (or here, with a
    # reason it touches no more than a constant amount).
    constant = {
        "len",
        "bool",
        "abs",
        "round",
        "floor",
        "ceil",
        "default",
        "coalesce",
        "get",
        "dict",
        "keys",
        "values",
        "items",
        "list",
        "reversed",
        "range",
        "sum",
        "any",
        "all",
        "float",
        "json_decode",
        "split",
        "contains",
    }
    text = repr(test_each_call_is_charged_by_the_sizes_it_touches.pytestmark)  # type: ignore[attr-defined]
    text += repr(STRING_PRODUCERS)
    for name in sorted(set(FUNCTIONS) | ALL_METHODS):
        if name in constant:
            continue
        assert f"{name}(" in text, name
