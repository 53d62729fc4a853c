"""GET /node-types: every node type, described by the validator's own models."""

from __future__ import annotations

import httpx
from api_support import API

from flov7.engine.validate import validate_workflow
from flov7.nodes.registry import node_types


async def test_lists_every_node_type_from_the_registry(api: httpx.AsyncClient) -> None:
    response = await api.get(f"{API}/node-types")
    assert response.status_code == 200
    listed = response.json()["node_types"]
    registry = node_types()
    assert [item["name"] for item in listed] == list(registry)
    for item in listed:
        node_type = registry[item["name"]]
        assert item["kind"] == node_type.kind.value
        assert item["description"] == node_type.description
        assert item["config_schema"] == node_type.json_schema()
        assert item["example"] == node_type.example
        assert item["branch_handles"] == list(node_type.branch_handles)
        assert item["output_schema"] == node_type.output_schema


async def test_output_schemas_name_what_the_nodes_output(api: httpx.AsyncClient) -> None:
    """api_call's schema is closed and lists the keys call_api really returns."""
    listed = {
        item["name"]: item for item in (await api.get(f"{API}/node-types")).json()["node_types"]
    }
    api_call = listed["api_call"]["output_schema"]
    assert api_call["additionalProperties"] is False
    assert sorted(api_call["properties"]) == ["body", "elapsed_ms", "headers", "ok", "status_code"]
    assert listed["condition"]["output_schema"]["x-flov7-passthrough"] is True
    assert listed["transform"]["output_schema"] is None  # depends on the mapping


async def test_every_example_validates(api: httpx.AsyncClient) -> None:
    """The examples are valid configs: a client can start from any of them."""
    listed = (await api.get(f"{API}/node-types")).json()["node_types"]
    for item in listed:
        doc = {"nodes": [{"id": "n", "type": item["name"], "data": item["example"]}]}
        report = validate_workflow(doc)
        assert report.valid, (item["name"], report.summary())


async def test_one_node_type_and_unknown(api: httpx.AsyncClient) -> None:
    delay = await api.get(f"{API}/node-types/delay")
    assert delay.status_code == 200
    assert delay.json()["kind"] == "timer"
    assert "delay_seconds" in delay.json()["config_schema"]["properties"]
    missing = await api.get(f"{API}/node-types/teleport")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
