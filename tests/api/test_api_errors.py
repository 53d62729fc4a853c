"""One error shape everywhere; request size limit; no stack trace ever reaches a client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import API, api_settings, running_app

from flov7.config import TemporalSettings
from flov7.runs.contract import ExecutionBackend, ExecutionFilters, ExecutionRef, WorkflowRef
from flov7.runs.views import EngineHealth, EngineInfo, HistoryPage, RunPage, RunStatus
from flov7.store.database import Database


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in response.text
    error: dict[str, Any] = body["error"]
    return error


async def test_unknown_route_and_method(api: httpx.AsyncClient) -> None:
    assert_error_shape(await api.get(f"{API}/nothing-here"), 404, "not_found")
    assert_error_shape(await api.delete(f"{API}/node-types"), 405, "method_not_allowed")


async def test_invalid_json_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post(
        f"{API}/workflow/execute",
        content=b'{"workflow_data": ',
        headers={"content-type": "application/json"},
    )
    assert_error_shape(response, 400, "invalid_json")


async def test_validation_errors_name_the_field_without_echoing_input(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post(
        f"{API}/workflow/execute",
        json={"workflow_data": {"nodes": []}, "execution_id": "secret value with spaces"},
    )
    error = assert_error_shape(response, 422, "validation_error")
    assert error["details"][0]["location"] == "body.execution_id"
    assert "secret value" not in response.text


async def test_body_over_the_limit_is_413(api: httpx.AsyncClient) -> None:
    big = {"workflow_data": {"nodes": [], "padding": "x" * (4 * 1024 * 1024)}}
    response = await api.post(f"{API}/workflow/validate", json=big)
    error = assert_error_shape(response, 413, "payload_too_large")
    assert "FLOV7_MAX_REQUEST_BYTES" in error["message"]


async def test_streamed_body_over_the_limit_is_413(api: httpx.AsyncClient) -> None:
    """No Content-Length (chunked): counted as it arrives."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"workflow_data": {"padding": "'
        for _ in range(70):  # 70 x 64 KiB: over the 4 MiB default
            yield b"y" * 65536
        yield b'"}}'

    response = await api.post(
        f"{API}/workflow/validate",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert_error_shape(response, 413, "payload_too_large")


async def test_body_under_the_limit_passes(api: httpx.AsyncClient) -> None:
    doc = {"nodes": [], "padding": "x" * (512 * 1024)}
    response = await api.post(f"{API}/workflow/validate", json={"workflow_data": doc})
    assert response.status_code == 200


class ExplodingBackend:
    """A backend whose every call fails with an unexpected error."""

    engine = "exploding"

    async def start(
        self,
        document: dict[str, Any],
        run_input: dict[str, Any] | None,
        execution_id: str,
        workflow_ref: WorkflowRef,
    ) -> ExecutionRef:
        raise RuntimeError("internal detail /etc/secret")

    async def status(self, execution_id: str) -> RunStatus:
        raise RuntimeError("internal detail /etc/secret")

    async def wait(self, execution_id: str, wait_seconds: float) -> RunStatus | None:
        raise RuntimeError("internal detail /etc/secret")

    async def history(
        self, execution_id: str, page: str | None, page_size: int, raw: bool
    ) -> HistoryPage:
        raise RuntimeError("internal detail /etc/secret")

    async def cancel(self, execution_id: str, reason: str | None = None) -> None:
        raise RuntimeError("internal detail /etc/secret")

    async def terminate(self, execution_id: str, reason: str | None = None) -> None:
        raise RuntimeError("internal detail /etc/secret")

    async def send_event(self, execution_id: str, event: str, data: Any) -> None:
        raise RuntimeError("internal detail /etc/secret")

    async def list(
        self, filters: ExecutionFilters, page_token: str | None, page_size: int
    ) -> RunPage:
        raise RuntimeError("internal detail /etc/secret")

    async def health(self) -> EngineHealth:
        raise RuntimeError("internal detail /etc/secret")

    def describe(self) -> EngineInfo:
        return EngineInfo(engine="exploding")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/workflow/status/x"),
        ("GET", "/workflow/history/x"),
        ("POST", "/workflow/cancel/x"),
        ("POST", "/workflow/terminate/x"),
        ("GET", "/workflow/executions"),
        ("POST", "/workflow/event/x"),
    ],
)
async def test_unexpected_errors_are_a_bare_500(
    api_database: Database, tmp_path: Path, method: str, path: str
) -> None:
    backend: ExecutionBackend = ExplodingBackend()
    settings = api_settings(TemporalSettings(), tmp_path)
    async with running_app(settings, backend=backend, database=api_database) as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body = {"event": "e"} if "/event/" in path else None
            response = await client.request(method, f"{API}{path}", json=body)
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "Internal server error", "details": None}
    }
    assert "secret" not in response.text


async def test_openapi_documents_every_endpoint_with_examples(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    paths = schema["paths"]
    expected = {
        ("post", f"{API}/workflow/execute"),
        ("get", f"{API}/workflow/status/{{execution_id}}"),
        ("get", f"{API}/workflow/history/{{execution_id}}"),
        ("post", f"{API}/workflow/cancel/{{execution_id}}"),
        ("post", f"{API}/workflow/event/{{execution_id}}"),
        ("post", f"{API}/workflow/validate"),
        ("get", f"{API}/workflow/executions"),
        ("post", f"{API}/workflows"),
        ("get", f"{API}/workflows"),
        ("get", f"{API}/workflows/{{workflow_id}}"),
        ("put", f"{API}/workflows/{{workflow_id}}"),
        ("delete", f"{API}/workflows/{{workflow_id}}"),
        ("get", f"{API}/workflows/{{workflow_id}}/versions"),
        ("post", f"{API}/workflows/{{workflow_id}}/execute"),
        ("get", f"{API}/node-types"),
        ("get", "/health"),
        ("get", "/health/temporal"),
    }
    documented = {(method, path) for path, item in paths.items() for method in item}
    assert expected <= documented
    components = schema["components"]["schemas"]
    for model in ("ExecuteRequest", "ExecuteAccepted", "ExecutionStatus", "ErrorResponse"):
        assert components[model].get("examples"), model
    security = schema["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(security)
    execute = paths[f"{API}/workflow/execute"]["post"]
    assert {"200", "202", "401", "404", "413", "422", "503"} <= set(execute["responses"])
    json.dumps(schema)  # serialisable as it is
