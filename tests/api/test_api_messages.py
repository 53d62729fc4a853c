"""4xx messages that say what to send; ``GET /`` and an offline ``/docs``."""

from __future__ import annotations

import json

import httpx
import pytest
from api_support import API, only_on

DOC = {"nodes": [{"id": "wait", "type": "delay", "data": {"delay_seconds": 0}}]}

pytestmark = only_on("local")  # Request handling only: no run reaches an engine.


@pytest.mark.parametrize(
    ("headers", "sent"),
    [({}, "none"), ({"content-type": "text/plain"}, "'text/plain'")],
)
async def test_a_body_not_sent_as_json_says_which_header_to_send(
    api: httpx.AsyncClient, headers: dict[str, str], sent: str
) -> None:
    response = await api.post(
        f"{API}/workflow/execute", content=json.dumps({"workflow_data": DOC}), headers=headers
    )
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "Content-Type: application/json" in message
    assert f"Content-Type sent: {sent}" in message


@pytest.mark.parametrize("path", ["/workflow/execute", "/workflow/validate"])
async def test_workflow_for_workflow_data_suggests_the_right_name(
    api: httpx.AsyncClient, path: str
) -> None:
    response = await api.post(f"{API}{path}", json={"workflow": DOC})
    assert response.status_code == 422
    error = response.json()["error"]
    assert "did you mean 'workflow_data'?" in error["message"]
    assert "Extra inputs are not permitted" not in response.text
    # Not also "workflow_data: Field required": one mistake, one message.
    assert [p["location"] for p in error["details"]] == ["body.workflow"]


async def test_a_bare_document_is_told_to_wrap_itself(api: httpx.AsyncClient) -> None:
    response = await api.post(f"{API}/workflow/validate", json=DOC)
    assert response.status_code == 422
    assert '{"workflow_data": {"nodes"' in response.json()["error"]["message"]


async def test_validation_reports_carry_suggestions_and_no_pydantic_noise(
    api: httpx.AsyncClient,
) -> None:
    document = {
        "nodes": [
            {
                "id": "fetch",
                "type": "api_call",
                "data": {"url": "https://x.example", "methd": "GET"},
            },
            {"id": "db", "type": "database", "data": {"operation": "select"}},
        ]
    }
    response = await api.post(f"{API}/workflow/validate", json={"workflow_data": document})
    report = response.json()
    assert report["valid"] is False
    by_node = {issue["node_id"]: issue for issue in report["issues"]}
    assert by_node["fetch"]["suggestion"] == "data.method"
    assert by_node["db"]["message"] == "database: operation 'select' needs 'table'"
    assert "Value error" not in response.text


async def test_home_points_to_the_docs_and_the_api(api: httpx.AsyncClient) -> None:
    response = await api.get("/")
    assert response.status_code == 200
    home = response.json()
    assert home["docs"] == "/docs"
    assert home["api"] == "/api/v1"
    assert "temporal_ui" in home  # None on the local engine; the dev server's UI on Temporal


async def test_docs_load_their_assets_from_this_server(api: httpx.AsyncClient) -> None:
    page = await api.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        assert asset in page.text
        response = await api.get(asset)
        assert response.status_code == 200
        assert len(response.content) > 10_000


@pytest.mark.parametrize(
    "path", [f"{API}/node-types/", f"{API}/node-types/delay/", f"{API}/workflows/", "/health/"]
)
async def test_a_trailing_slash_gets_the_same_answer_not_a_redirect(
    api: httpx.AsyncClient, path: str
) -> None:
    response = await api.get(path)
    assert response.status_code == 200, response.headers.get("location")
    assert response.json() == (await api.get(path.rstrip("/"))).json()


async def test_the_guides_own_example_gets_a_hint_about_inputs_data(api: httpx.AsyncClient) -> None:
    guide = {
        "id": "test-workflow-001",
        "nodes": [
            {
                "id": "node-1",
                "type": "api_call",
                "data": {"url": "https://api.example.com/data", "method": "GET"},
            },
            {
                "id": "node-2",
                "type": "transform",
                "data": {"transform_type": "mapping", "mapping": {"result": "inputs.data"}},
            },
        ],
        "edges": [{"id": "edge-1", "source": "node-1", "target": "node-2"}],
    }
    report = (await api.post(f"{API}/workflow/validate", json={"workflow_data": guide})).json()
    assert report["valid"] is True
    (warning,) = report["warnings"]
    assert warning["code"] == "unknown_output_field"
    assert warning["node_id"] == "node-2"
    assert warning["suggestion"] == "inputs.body"
    assert "api_call outputs have no 'data'; did you mean 'body'?" in warning["message"]
