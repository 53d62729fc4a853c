"""GET /metrics: every Flov7 counter moves by exactly what a run did, on both engines.

A run of five nodes (a condition, an I/O node that fails once then succeeds, a delay,
a transform, and a transform skipped by the condition) must add one started and one
finished run, one execution per pure/delay node, two executions and one retry of the
I/O node, and one count of the request that started it, under its route template.
On Temporal the run's history is then replayed: replay must add nothing.

The I/O node is a test-only type, on a worker and task queue of this module only.
"""

from __future__ import annotations

import contextlib
import io
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import pytest_asyncio
from api_support import (
    API,
    WAIT,
    Engine,
    api_settings,
    client_for,
    document,
    eventually,
    only_on,
    registered_node_type,
    running_app,
    transform,
)
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.worker import Replayer

from flov7.config import TemporalSettings
from flov7.errors import NodeExecutionError
from flov7.nodes.base import ActivityContext, NodeConfig, NodeKind, NodeType
from flov7.observability.logging import log_handler
from flov7.store.database import Database
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.worker import WORKFLOWS, create_worker

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class FlakyConfig(NodeConfig):
    fail_times: int = 1


class OpsFlakyNode(NodeType):
    """Fails its first ``fail_times`` attempts, then succeeds."""

    name = "test_ops_flaky"
    kind = NodeKind.ACTIVITY
    config_model = FlakyConfig
    description = "test only"
    example: ClassVar[dict[str, Any]] = {}

    async def execute(self, config: NodeConfig, context: ActivityContext) -> Any:
        assert isinstance(config, FlakyConfig)
        if context.attempt <= config.fail_times:
            raise NodeExecutionError(f"flaky failure {context.attempt}", error_type="Flaky")
        return {"attempt": context.attempt}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def metrics_api(
    api_engine: Engine,
    api_database: Database,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[httpx.AsyncClient]:
    data_dir = Path(tmp_path_factory.mktemp("metrics"))
    with registered_node_type(OpsFlakyNode()):
        async with contextlib.AsyncExitStack() as stack:
            backend = api_engine.backend
            settings = api_engine.settings(data_dir)
            if api_engine.client is not None:
                temporal = TemporalSettings(task_queue=f"metrics-{uuid.uuid4().hex[:8]}")
                await stack.enter_async_context(create_worker(api_engine.client, temporal))
                backend = TemporalBackend(temporal, client=api_engine.client)
                settings = api_settings(temporal, data_dir)
            app = await stack.enter_async_context(
                running_app(settings, backend=backend, database=api_database)
            )
            yield await stack.enter_async_context(client_for(app))


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def five_nodes() -> dict[str, Any]:
    return document(
        {"id": "check", "type": "condition", "data": {"condition": "input.go"}},
        {
            "id": "fetch",
            "type": "test_ops_flaky",
            "data": {"fail_times": 1},
            "retry": {"max_attempts": 3, "initial_interval_seconds": 0.1},
        },
        {"id": "pause", "type": "delay", "data": {"delay_seconds": 0.05}},
        transform("shape", attempt="inputs.attempt"),
        transform("other"),
        edges=[
            {"id": "e1", "source": "check", "target": "fetch", "sourceHandle": "true"},
            {"id": "e2", "source": "check", "target": "other", "sourceHandle": "false"},
            {"id": "e3", "source": "fetch", "target": "pause"},
            {"id": "e4", "source": "pause", "target": "shape"},
        ],
        input={"go": True},
    )


async def test_each_counter_moves_by_what_the_run_did(
    metrics_api: httpx.AsyncClient, engine: str
) -> None:
    doc = five_nodes()
    before = await scrape(metrics_api)
    response = await metrics_api.post(
        f"{API}/workflow/execute", json={"workflow_data": doc}, params=WAIT
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    after = await scrape(metrics_api)

    def delta(name: str, **labels: str) -> float:
        return moved(before, after, name, **labels)

    assert delta("flov7_runs_started_total", workflow_id=doc["id"], trigger="api") == 1
    assert delta("flov7_runs_finished_total", status="completed") == 1
    assert delta("flov7_run_duration_seconds_count") == 1
    executions = "flov7_node_executions_total"
    assert delta(executions, type="condition", outcome="completed") == 1
    assert delta(executions, type="transform", outcome="completed") == 1  # "other" skipped
    assert delta(executions, type="delay", outcome="completed") == 1
    assert delta(executions, type="test_ops_flaky", outcome="failed") == 1
    assert delta(executions, type="test_ops_flaky", outcome="completed") == 1
    assert delta("flov7_node_retries_total", type="test_ops_flaky") == 1
    assert delta("flov7_node_retries_total", type="transform") == 0
    assert delta("flov7_node_duration_seconds_count", type="test_ops_flaky") == 2
    route = f"{API}/workflow/execute"
    assert delta("flov7_http_requests_total", route=route, method="POST", status="200") == 1
    assert delta("flov7_http_request_duration_seconds_count", route=route) == 1
    # The scrape before this one was counted under its template too.
    assert delta("flov7_http_requests_total", route="/metrics", method="GET", status="200") == 1
    # No execution id became a label (bounded cardinality).
    execution_id = response.json()["execution_id"]
    assert all(execution_id not in dict(labels).values() for _, labels in after)


async def test_route_templates_not_raw_paths(metrics_api: httpx.AsyncClient) -> None:
    execution_id = f"missing-{uuid.uuid4().hex}"
    before = await scrape(metrics_api)
    response = await metrics_api.get(f"{API}/workflow/status/{execution_id}")
    assert response.status_code == 404
    after = await scrape(metrics_api)
    route = f"{API}/workflow/status/{{execution_id}}"
    labels = {"route": route, "method": "GET", "status": "404"}
    assert moved(before, after, "flov7_http_requests_total", **labels) == 1
    assert not any(execution_id in str(labels) for _, labels in after)


@only_on("temporal")
async def test_replaying_a_run_records_and_logs_nothing(
    metrics_api: httpx.AsyncClient, temporal_client: Client
) -> None:
    response = await metrics_api.post(
        f"{API}/workflow/execute", json={"workflow_data": five_nodes()}, params=WAIT
    )
    assert response.status_code == 200, response.text
    handle = temporal_client.get_workflow_handle(response.json()["execution_id"])
    history = await handle.fetch_history()
    before = await scrape(metrics_api)
    stream = io.StringIO()
    handler = log_handler(stream, "json")
    workflow_logger = logging.getLogger("temporalio.workflow")
    workflow_logger.addHandler(handler)
    level = workflow_logger.level
    workflow_logger.setLevel(logging.DEBUG)
    try:
        await Replayer(workflows=WORKFLOWS).replay_workflow(history)
    finally:
        workflow_logger.removeHandler(handler)
        workflow_logger.setLevel(level)
    after = await scrape(metrics_api)
    # The replay-safe logger dropped every lifecycle line of the replayed run.
    assert stream.getvalue() == ""
    flov7 = {key: value for key, value in after.items() if key[0].startswith("flov7_run")}
    flov7.update({k: v for k, v in after.items() if k[0].startswith("flov7_node")})
    assert {key: before.get(key, 0.0) for key in flov7} == flov7


async def test_metrics_can_require_a_key(
    api_engine: Engine, api_database: Database, tmp_path: Path
) -> None:
    settings = api_engine.settings(tmp_path, api_keys="ops-key-3f9a2c71", metrics_require_key=True)
    async with (
        running_app(settings, backend=api_engine.backend, database=api_database) as app,
        client_for(app) as client,
    ):
        assert (await client.get("/metrics")).status_code == 401
        ok = await client.get("/metrics", headers={"Authorization": "Bearer ops-key-3f9a2c71"})
        assert ok.status_code == 200
        assert "flov7_runs_started_total" in ok.text


async def test_failed_and_terminated_runs_are_counted_once(
    metrics_api: httpx.AsyncClient,
) -> None:
    failing = document(
        {
            "id": "fetch",
            "type": "test_ops_flaky",
            "data": {"fail_times": 5},
            "retry": {"max_attempts": 2, "initial_interval_seconds": 0.1},
        }
    )
    waiting = document({"id": "pause", "type": "delay", "data": {"delay_seconds": 600}})
    before = await scrape(metrics_api)
    response = await metrics_api.post(
        f"{API}/workflow/execute", json={"workflow_data": failing}, params=WAIT
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "failed"
    started = await metrics_api.post(f"{API}/workflow/execute", json={"workflow_data": waiting})
    assert started.status_code == 202, started.text
    execution_id = started.json()["execution_id"]

    async def waiting_on_its_timer() -> bool:
        status = await metrics_api.get(f"{API}/workflow/status/{execution_id}")
        nodes = status.json().get("nodes") or {}
        return bool(nodes.get("pause", {}).get("status") == "running")

    # Started for real (on Temporal: its first workflow task ran) before it ends.
    await eventually(waiting_on_its_timer)
    ended = await metrics_api.post(f"{API}/workflow/terminate/{execution_id}")
    assert ended.status_code < 300, ended.text
    after = await scrape(metrics_api)

    def delta(name: str, **labels: str) -> float:
        return moved(before, after, name, **labels)

    assert delta("flov7_runs_finished_total", status="failed") == 1
    assert delta("flov7_runs_finished_total", status="terminated") == 1
    assert delta("flov7_node_executions_total", type="test_ops_flaky", outcome="failed") == 2
    assert delta("flov7_node_retries_total", type="test_ops_flaky") == 1
    for doc in (failing, waiting):
        assert delta("flov7_runs_started_total", workflow_id=doc["id"], trigger="api") == 1
