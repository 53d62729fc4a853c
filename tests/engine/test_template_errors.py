"""A template whose value does not fit its field fails naming the template and field."""

from __future__ import annotations

import pytest

from flov7.errors import NodeExecutionError
from flov7.local.runtime import LocalRuntime
from flov7.nodes.base import get_node_type


def test_parse_config_names_the_template_that_rendered_to_null() -> None:
    delay = get_node_type("delay")
    assert delay is not None
    with pytest.raises(NodeExecutionError) as caught:
        delay.parse_config({"delay_seconds": None}, {"delay_seconds": "{{ input.wait }}"})
    message = caught.value.message
    assert "delay_seconds: Input should be a valid number" in message
    assert "(the template '{{ input.wait }}' rendered to null)" in message


def test_without_a_template_nothing_is_added() -> None:
    delay = get_node_type("delay")
    assert delay is not None
    with pytest.raises(NodeExecutionError) as caught:
        delay.parse_config({"delay_seconds": "soon"}, {"delay_seconds": "soon"})
    assert "template" not in caught.value.message
    assert "Value error" not in caught.value.message


@pytest.mark.asyncio(loop_scope="session")
async def test_a_run_fails_naming_the_template_and_the_field() -> None:
    document = {
        "id": "null-template",
        "nodes": [{"id": "wait", "type": "delay", "data": {"delay_seconds": "{{ input.wait }}"}}],
    }
    result = await LocalRuntime().start(document).result()
    assert result["status"] == "failed"
    error = result["node_results"]["wait"]["error"]
    assert error["type"] == "InvalidNodeConfig"
    assert "delay_seconds" in error["message"]
    assert "'{{ input.wait }}' rendered to null" in error["message"]


@pytest.mark.asyncio(loop_scope="session")
async def test_a_failing_template_is_named_with_its_field() -> None:
    document = {
        "id": "bad-template",
        "nodes": [
            {"id": "wait", "type": "delay", "data": {"delay_seconds": "{{ 1 / input.zero }}"}}
        ],
        "input": {"zero": 0},
    }
    result = await LocalRuntime().start(document).result()
    error = result["node_results"]["wait"]["error"]
    assert error["type"] == "ExpressionError"
    assert error["message"].startswith("data.delay_seconds: In template '{{ 1 / input.zero }}'")
