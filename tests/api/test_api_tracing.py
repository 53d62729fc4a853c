"""Tracing: one trace from the API request through the run to the outbound HTTP call.

Tracing is turned on (with an in-memory exporter instead of OTLP) for this module's
app, client, worker and node HTTP clients, then off again for the rest of the
session. The span tree must be: the API request's server span, the workflow start
under it (Temporal's TracingInterceptor), the workflow run and the activity under
the start, and the node's HTTP call under the activity, all in one trace.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import API, WAIT, api_settings, client_for, running_app
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from flov7.config import NodeSettings, TemporalSettings
from flov7.nodes.resources import node_resources
from flov7.observability import tracing
from flov7.store.database import Database
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.devserver import EmbeddedDevServer
from flov7.temporal.tracing import tracing_interceptors
from flov7.temporal.worker import create_worker
from nodes.http_servers import TestHttpServer


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    assert tracing.configure_tracing(None, exporter=memory)
    try:
        yield memory
    finally:
        tracing.disable_tracing()
        memory.shutdown()


def parent_of(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan | None:
    if span.parent is None:
        return None
    return next((s for s in spans if s.context.span_id == span.parent.span_id), None)


def ancestry(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    names = []
    current: ReadableSpan | None = span
    while current is not None:
        names.append(current.name)
        current = parent_of(current, spans)
    return names


async def test_one_trace_from_request_to_outbound_call(
    exporter: InMemorySpanExporter,
    temporal_server: EmbeddedDevServer,
    api_database: Database,
    tmp_path: Path,
) -> None:
    client = await Client.connect(temporal_server.target, interceptors=tracing_interceptors())
    temporal = TemporalSettings(task_queue=f"traced-{uuid.uuid4().hex[:8]}")
    nodes = NodeSettings.from_values(outbound_allowlist="127.0.0.1")
    settings = api_settings(temporal, tmp_path, nodes=nodes)
    document = {
        "id": "traced",
        "nodes": [{"id": "fetch", "type": "api_call", "data": {"url": "", "method": "GET"}}],
        "edges": [],
    }
    async with TestHttpServer() as server, node_resources(settings) as resources:
        document["nodes"][0]["data"]["url"] = server.url_for("/json")
        async with (
            create_worker(client, temporal, resources=resources),
            running_app(
                settings, backend=TemporalBackend(temporal, client=client), database=api_database
            ) as app,
            client_for(app) as api,
        ):
            response = await api.post(
                f"{API}/workflow/execute", json={"workflow_data": document}, params=WAIT
            )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "completed"
        # The node's call carried the trace context to the server.
        assert any("traceparent" in request.headers for request in server.requests)

    spans = list(exporter.get_finished_spans())
    names = [span.name for span in spans]
    http_call = next(s for s in spans if s.kind.name == "CLIENT" and s.name in ("GET", "HTTP GET"))
    chain = ancestry(http_call, spans)
    # Temporal's interceptor parents the workflow's spans on the start (whose context
    # travels in the workflow's headers): the run and the activity are siblings.
    assert chain == [
        http_call.name,
        "RunActivity:flov7.api_call",
        "StartActivity:flov7.api_call",
        "StartWorkflow:WorkflowExecution",
        f"POST {API}/workflow/execute",
    ], names
    run = next(s for s in spans if s.name == "RunWorkflow:WorkflowExecution")
    assert ancestry(run, spans)[1:] == chain[3:]
    assert len({span.context.trace_id for span in spans if span.name in chain}) == 1


def test_tracing_is_off_by_default() -> None:
    assert not tracing.enabled()
    assert tracing_interceptors() == []
    transport = httpx.AsyncHTTPTransport()
    assert tracing.traced_transport(transport) is transport
