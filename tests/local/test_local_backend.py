"""LocalBackend: the local runtime behind the API contract, with its runs in the store.

Each test opens its backends on a SQLite file of its own, so that "another process"
is simply another :class:`LocalBackend` on the same file: a restart is closing one
and opening the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flov7.config import Flov7Settings, NodeSettings, Settings, TemporalSettings
from flov7.errors import (
    ExecutionAlreadyClosedError,
    ExecutionConflictError,
    ExecutionNotFoundError,
    InvalidQueryError,
)
from flov7.local.backend import INTERRUPTED_ERROR, LocalBackend
from flov7.runs.contract import ExecutionFilters, WorkflowRef
from flov7.store.repository import ExecutionRecord, Repository
from nodes.http_servers import TestHttpServer

pytestmark = pytest.mark.asyncio(loop_scope="session")

OpenBackend = Callable[[], contextlib.AbstractAsyncContextManager[Any]]


@pytest.fixture
def settings(clean_env: Path) -> Settings:
    """Local-runtime settings with the store in the test's directory; HTTP nodes may
    reach the test server on 127.0.0.1."""
    return Settings(
        temporal=TemporalSettings(_env_file=None),
        flov7=Flov7Settings(_env_file=None, data_dir=clean_env, enable_temporal_features=False),
        nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"),
    )


class JsonAnswers:
    """A backend whose answers are read as the JSON the API sends (``model_dump``), so
    that these tests assert on the same shape a client sees."""

    def __init__(self, backend: LocalBackend) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    async def status(self, execution_id: str) -> dict[str, Any]:
        return (await self._backend.status(execution_id)).model_dump(mode="json")

    async def wait(self, execution_id: str, seconds: float) -> dict[str, Any] | None:
        found = await self._backend.wait(execution_id, seconds)
        return None if found is None else found.model_dump(mode="json")

    async def history(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return (await self._backend.history(*args, **kwargs)).model_dump(mode="json")

    async def list(self, *args: Any) -> dict[str, Any]:
        return (await self._backend.list(*args)).model_dump(mode="json")


@contextlib.asynccontextmanager
async def json_answers(backend: LocalBackend) -> AsyncIterator[Any]:
    async with backend as opened:
        yield JsonAnswers(opened)


@pytest.fixture
def open_backend(settings: Settings) -> OpenBackend:
    """``async with open_backend() as backend``: a backend on the test's store file."""
    return lambda: json_answers(LocalBackend(settings))


@pytest.fixture
async def backend(open_backend: OpenBackend) -> AsyncIterator[Any]:
    async with open_backend() as opened:
        yield opened


@pytest.fixture(scope="module")
async def http_server() -> AsyncIterator[TestHttpServer]:
    async with TestHttpServer() as server:
        yield server


def transform(node_id: str, **mapping: str) -> dict[str, Any]:
    return {"id": node_id, "type": "transform", "data": {"mapping": mapping or {"ok": "true"}}}


def workflow(*nodes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    edges = [
        {"id": f"e{i}", "source": a["id"], "target": b["id"]}
        for i, (a, b) in enumerate(itertools.pairwise(nodes))
    ]
    return {"id": extra.pop("id", "wf"), "nodes": list(nodes), "edges": edges, **extra}


SLOW = workflow(transform("first"), {"id": "wait", "type": "delay", "data": {"delay_seconds": 600}})


def new_id() -> str:
    return f"run-{uuid.uuid4().hex[:10]}"


async def until_running(backend: LocalBackend, execution_id: str, node_id: str) -> None:
    for _ in range(500):
        status = await backend.status(execution_id)
        if status["nodes"].get(node_id, {}).get("status") == "running":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{node_id} never ran")


async def test_a_run_is_recorded_at_start_and_at_the_end(backend: LocalBackend) -> None:
    execution_id = new_id()
    doc = workflow(transform("a", x="input.n * 2"), id="doubling", input={"n": 21})
    ref = await backend.start(doc, {"n": 4}, execution_id, WorkflowRef("stored", 3))
    assert (ref.engine, ref.created) == ("local", True)
    status = await backend.wait(execution_id, 30)
    assert status is not None
    assert (status["status"], status["engine"], status["engine_status"]) == (
        "completed",
        "local",
        "COMPLETED",
    )
    assert (status["workflow_id"], status["version"]) == ("stored", 3)
    assert status["result"]["node_results"]["a"]["output"] == {"x": 8}
    # Recorded, and no longer held in memory: the store answers for it now.
    assert backend.runtime.get(execution_id) is None
    record = await backend.repository.get_execution(execution_id, with_outcome=True)
    assert record is not None
    assert (record.engine, record.status, record.run_id) == ("local", "completed", ref.run_id)
    assert record.created_at.isoformat() == status["started_at"]
    assert record.result == status["result"]
    assert await backend.status(execution_id) == status


async def test_idempotent_start_while_running_once_closed_and_after_a_restart(
    open_backend: OpenBackend,
) -> None:
    running_id, closed_id = new_id(), new_id()
    closed_doc = workflow(transform("a"))
    async with open_backend() as backend:
        first = await backend.start(SLOW, None, running_id, WorkflowRef("wf"))
        again = await backend.start(SLOW, None, running_id, WorkflowRef("x"))
        assert (first.created, again.created, again.run_id) == (True, False, first.run_id)
        # Another document (or input) under the same id is a conflict, never a join.
        with pytest.raises(ExecutionConflictError, match="another document or input"):
            await backend.start(workflow(transform("other")), None, running_id, WorkflowRef("x"))
        with pytest.raises(ExecutionConflictError):
            await backend.start(SLOW, {"n": 1}, running_id, WorkflowRef("x"))
        done = await backend.start(closed_doc, None, closed_id, WorkflowRef("wf"))
        assert await backend.wait(closed_id, 30) is not None
        repeat = await backend.start(closed_doc, None, closed_id, WorkflowRef("other"))
        assert (repeat.created, repeat.run_id) == (False, done.run_id)
        with pytest.raises(ExecutionConflictError):
            await backend.start(SLOW, None, closed_id, WorkflowRef("other"))
        assert list((await backend.status(closed_id))["nodes"]) == ["a"]
    async with open_backend() as restarted:
        for execution_id, run_id, doc in (
            (running_id, first.run_id, SLOW),
            (closed_id, done.run_id, closed_doc),
        ):
            ref = await restarted.start(doc, None, execution_id, WorkflowRef("wf"))
            assert (ref.created, ref.run_id) == (False, run_id)
        assert restarted.runtime.runs() == []  # nothing was started again


async def test_concurrent_starts_of_one_id_start_one_run(backend: LocalBackend) -> None:
    execution_id = new_id()
    refs = await asyncio.gather(
        *(backend.start(SLOW, None, execution_id, WorkflowRef("wf")) for _ in range(3))
    )
    assert sorted(ref.created for ref in refs) == [False, False, True]
    assert len({ref.run_id for ref in refs}) == 1
    assert len(backend.runtime.runs()) == 1
    await backend.cancel(execution_id)


async def test_runs_left_running_by_a_dead_process_are_interrupted(
    open_backend: OpenBackend, caplog: pytest.LogCaptureFixture
) -> None:
    execution_id = new_id()
    first = open_backend()
    backend = await first.__aenter__()
    await backend.start(SLOW, None, execution_id, WorkflowRef("wf"))
    await until_running(backend, execution_id, "wait")
    # The process dies: nothing records how its runs end.
    backend.runtime.on_finished = None
    await first.__aexit__(None, None, None)

    async with open_backend() as restarted:
        assert execution_id in caplog.text  # the start names the runs it marks
        status = await restarted.status(execution_id)
        assert (status["status"], status["engine_status"]) == ("interrupted", "INTERRUPTED")
        assert status["error"] == INTERRUPTED_ERROR
        assert status["finished_at"] is not None
        assert await restarted.wait(execution_id, 0.1) == status  # closed: no waiting
        with pytest.raises(ExecutionAlreadyClosedError) as closed:
            await restarted.cancel(execution_id)
        assert closed.value.status == "interrupted"
        history = await restarted.history(execution_id, None, 100, raw=False)
        assert [e["event"] for e in history["events"]] == ["run_started", "run_interrupted"]
        assert history["events"][-1]["details"] == {"reason": INTERRUPTED_ERROR["message"]}
        listed = await restarted.list(ExecutionFilters(status="interrupted"), None, 10)
        assert [item["execution_id"] for item in listed["executions"]] == [execution_id]
        assert listed["executions"][0]["engine_status"] == "INTERRUPTED"


async def test_closing_cancels_the_runs_still_going_and_records_it(
    open_backend: OpenBackend,
) -> None:
    execution_id = new_id()
    async with open_backend() as backend:
        await backend.start(SLOW, None, execution_id, WorkflowRef("wf"))
        await until_running(backend, execution_id, "wait")
    async with open_backend() as restarted:
        status = await restarted.status(execution_id)
        assert status["status"] == "cancelled"
        assert status["nodes"]["wait"]["status"] == "cancelled"
        assert status["error"] == {"type": "Cancelled", "message": "the Flov7 process is stopping"}
        raw = await restarted.history(execution_id, None, 100, raw=True)
        reasons = [e.get("reason") for e in raw["events"] if e["event"] == "cancel_requested"]
        assert reasons == ["the Flov7 process is stopping", None]  # the run, then its node


async def test_cancel_and_the_409_once_closed(backend: LocalBackend) -> None:
    execution_id = new_id()
    await backend.start(SLOW, None, execution_id, WorkflowRef("wf"))
    await until_running(backend, execution_id, "wait")
    live = await backend.history(execution_id, None, 100, raw=False)
    assert live["status"] == "running"
    assert [(e["event"], e["node_id"]) for e in live["events"]] == [
        ("run_started", None),
        ("started", "first"),
        ("completed", "first"),
        ("timer_started", "wait"),
    ]
    assert live["events"][-1]["details"] == {"duration_seconds": 600}
    await backend.cancel(execution_id, "enough")
    status = await backend.wait(execution_id, 30)
    assert status is not None and status["status"] == "cancelled"
    with pytest.raises(ExecutionAlreadyClosedError) as closed:
        await backend.cancel(execution_id)
    assert closed.value.status == "cancelled"
    history = await backend.history(execution_id, None, 100, raw=False)
    run_level = [(e["event"], e["details"]) for e in history["events"] if e["node_id"] is None]
    assert run_level[1] == ("cancel_requested", {"reason": "enough"})
    assert run_level[-1] == ("run_cancelled", {"status": "cancelled"})
    waits = [e["event"] for e in history["events"] if e["node_id"] == "wait"]
    assert waits == ["timer_started", "cancelled"]
    with pytest.raises(ExecutionNotFoundError):
        await backend.cancel(new_id())


async def test_history_of_a_run_with_retries_over_real_http(
    backend: LocalBackend, http_server: TestHttpServer
) -> None:
    key = uuid.uuid4().hex
    fetch = {
        "id": "fetch",
        "type": "api_call",
        "data": {"url": http_server.url_for(f"/flaky/{key}?failures=2"), "method": "GET"},
        "retry": {"max_attempts": 3, "initial_interval_seconds": 0.05},
    }
    doc = workflow(fetch, transform("calls", n="inputs.body.calls"))
    execution_id = new_id()
    await backend.start(doc, None, execution_id, WorkflowRef("wf"))
    status = await backend.wait(execution_id, 30)
    assert status is not None and status["status"] == "completed"
    assert status["nodes"]["fetch"]["attempts"] == 3
    assert status["result"]["node_results"]["calls"]["output"] == {"n": 3}

    body = await backend.history(execution_id, None, 100, raw=False)
    assert (body["engine"], body["status"]) == ("local", "completed")
    events = body["events"]
    assert body["total_events"] == len(events)
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    fetch_events = [(e["event"], e["attempt"]) for e in events if e["node_id"] == "fetch"]
    assert fetch_events == [
        ("scheduled", None),
        ("started", 1),
        ("attempt_failed", 1),
        ("started", 2),
        ("attempt_failed", 2),
        ("started", 3),
        ("completed", 3),
    ]
    failed = [e for e in events if e["event"] == "attempt_failed"]
    for attempt, entry in enumerate(failed, start=1):
        assert entry["source"] == "local"
        assert entry["node_type"] == "api_call"
        cause = entry["details"]["cause"]
        assert cause["type"] == "HttpServerError"
        assert cause["details"]["status_code"] == 503
        assert entry["details"]["failed_attempts"] == attempt
        assert entry["details"]["retry_in_seconds"] == pytest.approx(0.05 * 2 ** (attempt - 1))
    assert [e["event"] for e in events if e["node_id"] == "calls"] == ["started", "completed"]
    assert body["nodes"]["fetch"]["attempts"] == 3
    assert body["nodes"]["fetch"]["in_history"] is False
    # Pages add up to the whole; a token of another kind is refused.
    first = await backend.history(execution_id, None, 4, raw=False)
    rest = await backend.history(execution_id, first["next_page_token"], 100, raw=False)
    assert first["events"] + rest["events"] == events
    with pytest.raises(InvalidQueryError):
        await backend.history(execution_id, first["next_page_token"], 100, raw=True)
    raw = await backend.history(execution_id, None, 100, raw=True)
    assert [e["attempt"] for e in raw["events"]] == [1, 2]


async def test_listing_pages_and_filters(backend: LocalBackend) -> None:
    workflow_id = f"listed-{uuid.uuid4().hex[:8]}"
    started: list[str] = []
    for doc in (
        workflow(transform("a"), id=workflow_id),
        workflow(transform("a", x="1 / 0"), id=workflow_id),
        workflow(transform("a"), id=workflow_id),
    ):
        execution_id = new_id()
        await backend.start(doc, None, execution_id, WorkflowRef(workflow_id))
        await backend.wait(execution_id, 30)
        started.append(execution_id)
    running_id = new_id()
    await backend.start(SLOW, None, running_id, WorkflowRef(workflow_id))

    everything = await backend.list(ExecutionFilters(workflow_id=workflow_id), None, 100)
    assert [item["execution_id"] for item in everything["executions"]] == [
        running_id,
        *reversed(started),
    ]
    assert everything["engine"] == "local"
    assert everything["next_page_token"] is None
    seen: list[str] = []
    token: str | None = None
    while True:
        page = await backend.list(ExecutionFilters(workflow_id=workflow_id), token, 3)
        seen.extend(item["execution_id"] for item in page["executions"])
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == [item["execution_id"] for item in everything["executions"]]

    async def ids(**filters: Any) -> list[str]:
        found = await backend.list(ExecutionFilters(workflow_id=workflow_id, **filters), None, 10)
        return [item["execution_id"] for item in found["executions"]]

    assert await ids(status="failed") == [started[1]]
    assert await ids(status="running") == [running_id]
    hour = timedelta(hours=1)
    assert await ids(started_after=datetime.now(UTC) + hour) == []
    naive = datetime.now(UTC).replace(tzinfo=None) - hour  # no zone: UTC
    assert len(await ids(started_after=naive)) == 4
    for bad in ("bm90LWEtdG9rZW4", "%%%"):
        with pytest.raises(InvalidQueryError):
            await backend.list(ExecutionFilters(), bad, 10)
    with pytest.raises(InvalidQueryError, match="Unknown status"):
        await backend.list(ExecutionFilters(status="bogus"), None, 10)
    await backend.cancel(running_id)


async def test_runs_of_another_engine_are_not_ours(backend: LocalBackend) -> None:
    execution_id = new_id()
    await backend.repository.record_execution(
        ExecutionRecord(execution_id, "wf", None, "temporal", datetime.now(UTC))
    )
    for call in (
        backend.status(execution_id),
        backend.history(execution_id, None, 10, raw=False),
        backend.cancel(execution_id),
        backend.wait(execution_id, 0.1),
    ):
        with pytest.raises(ExecutionNotFoundError):
            await call
    with pytest.raises(InvalidQueryError, match="temporal"):
        await backend.start(SLOW, None, execution_id, WorkflowRef("wf"))
    listed = await backend.list(ExecutionFilters(workflow_id="wf"), None, 100)
    assert execution_id not in [item["execution_id"] for item in listed["executions"]]


async def test_shares_a_store_it_is_given_and_leaves_it_open(settings: Settings) -> None:
    from flov7.store.database import Database

    url = settings.flov7.resolved_database_url
    async with Database.open(url) as database:
        async with json_answers(LocalBackend(settings, database=database)) as backend:
            execution_id = new_id()
            await backend.start(workflow(transform("a")), None, execution_id, WorkflowRef("wf"))
            await backend.wait(execution_id, 30)
        record = await Repository(database).get_execution(execution_id)
        assert record is not None and record.status == "completed"
