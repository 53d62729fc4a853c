"""Large outputs are elided from the result instead of breaking the run."""

from __future__ import annotations

import pytest

from flov7.engine.payloads import (
    INLINE_LIMITS,
    MAX_RECORDED_INPUT_BYTES,
    PayloadLimits,
    check_output,
    check_small_output,
    fit_result,
    json_size,
    recorded_input,
)


def result_with(outputs: dict[str, object]) -> dict[str, object]:
    return {
        "status": "completed",
        "node_results": {
            node_id: {"status": "completed", "output": output, "attempts": 1}
            for node_id, output in outputs.items()
        },
    }


def test_small_results_are_untouched() -> None:
    result = result_with({"a": {"x": 1}})
    assert fit_result(result) is result


def test_largest_outputs_go_first_until_it_fits() -> None:
    result = result_with({"small": "s" * 100, "big": "b" * 5000, "mid": "m" * 3000})
    fitted = fit_result(result, max_bytes=4000)
    assert fitted["truncated_outputs"] == ["big"]
    big = fitted["node_results"]["big"]
    assert big["output"]["truncated"] is True
    assert big["output"]["size_bytes"] == json_size("b" * 5000)
    assert big["status"] == "completed"
    assert fitted["node_results"]["mid"]["output"] == "m" * 3000
    assert json_size(fitted) <= 4000
    assert result["node_results"]["big"]["output"] == "b" * 5000  # input not mutated


async def test_pure_output_over_the_limit_fails_the_node_not_the_run_machinery() -> None:
    from flov7.engine.driver import GraphDriver
    from flov7.engine.interpreter import Interpreter
    from flov7.local.runner import LocalNodeRunner
    from flov7.spec import parse_workflow

    spec = parse_workflow(
        {
            "nodes": [
                {
                    "id": "big",
                    "type": "transform",
                    "on_error": "continue",
                    "data": {"mapping": {f"k{i}": "'x' * 99000" for i in range(12)}},
                },
                {
                    "id": "after",
                    "type": "transform",
                    "data": {"mapping": {"t": "inputs.error.type"}},
                },
            ],
            "edges": [{"id": "e", "source": "big", "target": "after"}],
        }
    )
    driver = GraphDriver(
        Interpreter(spec), LocalNodeRunner(), input_data={}, defaults=spec.defaults
    )
    result = await driver.run()
    assert result["node_results"]["big"]["status"] == "failed"
    assert result["node_results"]["big"]["error"]["type"] == "OutputTooLarge"
    assert result["node_results"]["after"]["output"] == {"t": "OutputTooLarge"}


def test_recorded_input_redacts_secrets_and_is_capped() -> None:
    config = {
        "url": "https://x.test/",
        "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k", "Accept": "json"},
        "items": [{"password": "p", "name": "n"}],
        "token": None,
    }
    assert recorded_input(config) == {
        "url": "https://x.test/",
        "headers": {"Authorization": "***", "X-Api-Key": "***", "Accept": "json"},
        "items": [{"password": "***", "name": "n"}],
        "token": None,
    }
    big = recorded_input({"body": "x" * (MAX_RECORDED_INPUT_BYTES + 1)})
    assert big["truncated"] is True and big["size_bytes"] > MAX_RECORDED_INPUT_BYTES


def test_fit_result_elides_large_inputs_too() -> None:
    result = {
        "node_results": {
            "a": {"output": "small", "input": {"body": "y" * 3000}},
            "b": {"output": "z" * 1000, "input": {}},
        }
    }
    fitted = fit_result(result, max_bytes=2000)
    assert fitted["node_results"]["a"]["input"]["truncated"] is True
    assert fitted["node_results"]["a"]["output"] == "small"
    assert fitted["truncated_outputs"] == []
    assert json_size(fitted) <= 2000


SMALL_OUTPUTS: list[object] = [
    None,
    "text",
    {"status_code": 200, "headers": {"content-type": "application/json"}, "body": {"ok": True}},
    {"items": [{"id": i, "name": f"item {i}"} for i in range(50)]},
    {"bad": float("nan")},
    {1: "not a string key"},
    {"deep": [[[[[]]]]]},
    "x" * 5000,
]


@pytest.mark.parametrize("value", SMALL_OUTPUTS)
@pytest.mark.parametrize("budget", [10, 100, 1000, 16_000])
def test_a_small_check_answers_as_the_full_check_or_not_at_all(value: object, budget: int) -> None:
    full = check_output(value, "n1")
    small = check_small_output(value, "n1", limits=INLINE_LIMITS, budget=budget)
    if small is None:
        # Only when the value is over the budget: the caller checks it fully then.
        assert full.error is not None or full.size > budget
    else:
        assert small.error == full.error
        if full.error is None:
            assert small.size == full.size
            assert small.size <= budget


def test_a_small_check_gives_up_over_its_budget() -> None:
    value = {"body": "x" * 20_000}
    assert check_small_output(value, "n1", limits=INLINE_LIMITS, budget=16_000) is None
    assert check_output(value, "n1").error is None


def test_a_budget_over_the_limit_is_the_full_check() -> None:
    limits = PayloadLimits(node_output_bytes=100)
    value = {"body": "x" * 200}
    small = check_small_output(value, "n1", limits=limits, budget=16_000)
    assert small is not None and small.error is not None
    assert small.error == check_output(value, "n1", limits=limits).error
    assert small.error["type"] == "OutputTooLarge"
