"""The worker's per-run savings keep runs, replays and visibility as they were.

- Workflows run without the SDK's sandbox by default (``FLOV7_WORKFLOW_SANDBOX=true``
  puts them in it, the workflow module shared, not re-imported per run), while the
  replay checks still run in the SDK's default, fully restricted sandbox.
- The build id is Flov7's own, computed once.
- ``Flov7Status=running`` comes with the start request: a new run upserts only its final
  status; a run started without it (earlier releases, other clients) still upserts
  ``running`` itself, and both replay.
"""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._importer import Importer
from temporalio.worker.workflow_sandbox._restrictions import RestrictionContext

import flov7
from flov7.config import TemporalSettings
from flov7.temporal.executions import prepare_document, start_execution_once
from flov7.temporal.search_attributes import (
    RUNNING,
    STATUS,
    WORKFLOW_ID,
    register_search_attributes,
    start_attributes,
    status_set_at_start,
)
from flov7.temporal.worker import WORKFLOWS, build_id, create_worker, runner_for, workflow_runner

from support.results import result_document

DOCUMENT = {
    "id": "sandbox-overhead",
    "nodes": [
        {"id": "a", "type": "transform", "data": {"mapping": {"x": 1}}},
        {"id": "b", "type": "transform", "data": {"mapping": {"y": 2}}},
    ],
    "edges": [{"id": "a-b", "source": "a", "target": "b"}],
}


def test_worker_sandbox_shares_the_workflow_module() -> None:
    module = WORKFLOWS[0].__module__
    importer = Importer(
        workflow_runner().restrictions, RestrictionContext(), workflow_module_name=module
    )
    assert importer.module_configured_passthrough(module)
    assert importer.module_configured_passthrough("flov7.engine.driver")
    # Only Flov7's own package is added to the defaults.
    assert not importer.module_configured_passthrough("flov7x")


def test_build_id_is_flov7s_own_and_computed_once() -> None:
    first = build_id()
    assert first.startswith(f"flov7-{flov7.__version__}-")
    assert build_id() is first


def test_status_set_at_start_only_for_a_first_fresh_run() -> None:
    attributes = start_attributes("wf", None)
    assert attributes.get(STATUS) == RUNNING
    assert status_set_at_start(attributes, 1, False)
    # Retries and continuations inherit attributes: they upsert as before.
    assert not status_set_at_start(attributes, 2, False)
    assert not status_set_at_start(attributes, 1, True)
    earlier = TypedSearchAttributes([SearchAttributePair(WORKFLOW_ID, "wf")])
    assert not status_set_at_start(earlier, 1, False)


def _status_upserts(history: Any) -> list[str]:
    """The ``Flov7Status`` values the workflow upserted, in order."""
    values: list[str] = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            continue
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        payload = fields.indexed_fields.get(STATUS.name)
        if payload is not None:
            values.append(payload.data.decode().strip('"'))
    return values


async def _finish(handle: WorkflowHandle[Any, Any]) -> Any:
    result = await result_document(handle)
    assert result["status"] == "completed"
    history = await handle.fetch_history()
    # The replay check in the SDK's default sandbox (workflows.py re-imported, restricted).
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)
    return history


async def test_new_run_upserts_only_its_final_status(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    await register_search_attributes(temporal_client)
    started = await start_execution_once(
        temporal_client,
        DOCUMENT,
        flov7_worker,
        execution_id=f"sandbox-overhead-{uuid.uuid4().hex[:8]}",
        search_attributes=True,
    )
    handle = started.handle
    history = await _finish(handle)
    assert _status_upserts(history) == ["completed"]
    description = await handle.describe()
    assert description.typed_search_attributes.get(STATUS) == "completed"


async def test_run_started_without_status_upserts_running(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    """As earlier releases (and other clients) start runs: the workflow says running."""
    await register_search_attributes(temporal_client)
    prepared = prepare_document(DOCUMENT, flov7_worker)
    prepared["defaults"] = {**prepared.get("defaults", {}), "search_attributes": True}
    handle = await temporal_client.start_workflow(
        "WorkflowExecution",
        prepared,
        id=f"sandbox-overhead-{uuid.uuid4().hex[:8]}",
        task_queue=flov7_worker.task_queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(WORKFLOW_ID, "x")]),
    )
    history = await _finish(handle)
    assert _status_upserts(history) == [RUNNING, "completed"]


def _extract_document(schema: dict[str, Any]) -> dict[str, Any]:
    node = {"agent_type": "extract", "prompt": "x", "schema": schema}
    return {"id": "extract", "nodes": [{"id": "agent", "type": "ai_agent", "data": node}]}


async def test_json_schema_checks_run_in_both_sandboxes(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    """Node configs checked in workflow code (jsonschema, loaded with the node types)
    work in the worker's sandbox and in the default one the replay tests use."""
    for schema, valid in (({"type": "object"}, True), ({"type": 5}, False)):
        handle = await temporal_client.start_workflow(
            "WorkflowValidation",
            _extract_document(schema),
            id=f"sandbox-overhead-validate-{uuid.uuid4().hex[:8]}",
            task_queue=flov7_worker.task_queue,
        )
        report = await handle.result()
        assert report["valid"] is valid, report
        if not valid:
            assert "not a valid JSON Schema" in str(report["issues"])
        await Replayer(workflows=WORKFLOWS).replay_workflow(await handle.fetch_history())


def test_the_sandbox_is_a_setting_off_by_default(monkeypatch: Any) -> None:
    monkeypatch.delenv("FLOV7_WORKFLOW_SANDBOX", raising=False)
    assert isinstance(runner_for(TemporalSettings()), UnsandboxedWorkflowRunner)
    monkeypatch.setenv("FLOV7_WORKFLOW_SANDBOX", "true")
    sandboxed = runner_for(TemporalSettings())
    assert isinstance(sandboxed, SandboxedWorkflowRunner)


async def test_runs_complete_and_replay_in_the_sandbox_too(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    queue = f"sandboxed-{uuid.uuid4().hex[:8]}"
    settings = flov7_worker.model_copy(update={"workflow_sandbox": True, "task_queue": queue})
    async with create_worker(temporal_client, settings):
        started = await start_execution_once(
            temporal_client,
            DOCUMENT,
            settings,
            execution_id=f"sandboxed-{uuid.uuid4().hex[:8]}",
        )
        await _finish(started.handle)
