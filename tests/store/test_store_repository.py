"""The repository on SQLite and PostgreSQL: stored workflows, versions, runs, API keys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from flov7.store.repository import (
    ExecutionRecord,
    Repository,
    VersionConflictError,
    WorkflowExistsError,
    WorkflowNotFoundError,
)


def new_id(prefix: str = "wf") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


DOCUMENT = {
    "nodes": [{"id": "a", "type": "transform", "data": {"mapping": {"é": "'ünïcode ✓'"}}}],
    "edges": [],
    "input": {"nested": {"list": [1, 2.5, None, True]}},
}


async def test_create_and_get(repository: Repository) -> None:
    workflow_id = new_id()
    created = await repository.create_workflow(
        workflow_id, DOCUMENT, name="Name", description="Desc"
    )
    assert (created.id, created.name, created.description) == (workflow_id, "Name", "Desc")
    assert created.current_version == 1
    assert created.created_at.tzinfo is not None
    got = await repository.get_workflow(workflow_id)
    assert got.document == DOCUMENT
    assert got.created_at == created.created_at
    assert got.created_at.utcoffset() == timedelta(0)
    with pytest.raises(WorkflowExistsError):
        await repository.create_workflow(workflow_id, DOCUMENT)
    with pytest.raises(WorkflowNotFoundError):
        await repository.get_workflow(new_id())


async def test_updates_append_immutable_versions(repository: Repository) -> None:
    workflow_id = new_id()
    await repository.create_workflow(workflow_id, {"v": 1})
    second = await repository.update_workflow(workflow_id, {"v": 2}, name="renamed")
    assert second.current_version == 2 and second.name == "renamed"
    third = await repository.update_workflow(workflow_id, {"v": 3}, expected_version=2)
    assert third.current_version == 3
    assert third.updated_at >= second.updated_at
    with pytest.raises(VersionConflictError) as conflict:
        await repository.update_workflow(workflow_id, {"v": 4}, expected_version=2)
    assert conflict.value.current_version == 3
    assert (await repository.get_version(workflow_id, 1)).document == {"v": 1}
    assert (await repository.get_version(workflow_id, 3)).document == {"v": 3}
    versions = await repository.list_versions(workflow_id)
    assert [v.version for v in versions] == [1, 2, 3]
    assert all(v.document is None for v in versions)
    page = await repository.list_versions(workflow_id, after=1, limit=1)
    assert [v.version for v in page] == [2]
    with pytest.raises(WorkflowNotFoundError):
        await repository.get_version(workflow_id, 4)
    with pytest.raises(WorkflowNotFoundError):
        await repository.update_workflow(new_id(), {})


async def test_concurrent_updates_never_share_a_version(repository: Repository) -> None:
    workflow_id = new_id()
    await repository.create_workflow(workflow_id, {"v": 0})
    updated = await asyncio.gather(
        *(repository.update_workflow(workflow_id, {"v": i}) for i in range(1, 6))
    )
    assert sorted(w.current_version for w in updated) == [2, 3, 4, 5, 6]
    versions = await repository.list_versions(workflow_id)
    assert [v.version for v in versions] == [1, 2, 3, 4, 5, 6]


async def test_concurrent_creates_make_one_workflow(repository: Repository) -> None:
    workflow_id = new_id()
    outcomes = await asyncio.gather(
        *(repository.create_workflow(workflow_id, {"n": i}) for i in range(4)),
        return_exceptions=True,
    )
    created = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(created) == 1
    assert all(isinstance(o, WorkflowExistsError) for o in outcomes if o not in created)


async def test_delete_hides_and_recreate_continues(repository: Repository) -> None:
    workflow_id = new_id()
    await repository.create_workflow(workflow_id, {"v": 1})
    await repository.delete_workflow(workflow_id)
    for call in (
        repository.get_workflow(workflow_id),
        repository.list_versions(workflow_id),
        repository.get_version(workflow_id, 1),
        repository.delete_workflow(workflow_id),
        repository.update_workflow(workflow_id, {}),
    ):
        with pytest.raises(WorkflowNotFoundError):
            await call
    again = await repository.create_workflow(workflow_id, {"v": 2}, name="back")
    assert again.current_version == 2
    assert (await repository.get_version(workflow_id, 1)).document == {"v": 1}


async def test_list_workflows_by_id_pages(repository: Repository) -> None:
    prefix = new_id("list")
    ids = [f"{prefix}-{i}" for i in range(5)]
    for workflow_id in reversed(ids):
        await repository.create_workflow(workflow_id, {})
    await repository.delete_workflow(ids[2])
    first = await repository.list_workflows(after=prefix, limit=2)
    assert [w.id for w in first] == ids[:2]
    assert all(w.document is None for w in first)
    rest = await repository.list_workflows(after=first[-1].id, limit=100)
    assert [w.id for w in rest if w.id.startswith(prefix)] == [ids[3], ids[4]]


async def test_executions_are_recorded_once(repository: Repository) -> None:
    execution_id = new_id("run")
    first = ExecutionRecord(
        execution_id=execution_id,
        workflow_id="orders",
        version=3,
        engine="temporal",
        created_at=datetime.now(UTC),
        run_id="r1",
    )
    assert await repository.record_execution(first) == first
    second = ExecutionRecord(execution_id, "other", None, "local", datetime.now(UTC))
    assert await repository.record_execution(second) == first
    await repository.set_execution_status(execution_id, "completed")
    stored = await repository.get_execution(execution_id)
    assert stored is not None
    assert (stored.workflow_id, stored.version, stored.status) == ("orders", 3, "completed")
    assert await repository.get_execution(new_id("run")) is None
    await repository.set_execution_status(new_id("run"), "failed")  # unknown: a no-op


async def test_concurrent_records_keep_the_first(repository: Repository) -> None:
    execution_id = new_id("run")
    records = [
        ExecutionRecord(execution_id, f"wf{i}", i, "temporal", datetime.now(UTC)) for i in range(4)
    ]
    kept = await asyncio.gather(*(repository.record_execution(r) for r in records))
    assert len({r.workflow_id for r in kept}) == 1


async def test_list_executions_newest_first(repository: Repository) -> None:
    workflow_id = new_id()
    now = datetime.now(UTC)
    for minutes in (3, 1, 2):
        await repository.record_execution(
            ExecutionRecord(
                new_id("run"), workflow_id, 1, "temporal", now - timedelta(minutes=minutes)
            )
        )
    listed = await repository.list_executions(workflow_id)
    ages = [now - record.created_at for record in listed]
    assert ages == sorted(ages)
    assert len(listed) == 3


async def test_api_keys(repository: Repository) -> None:
    key_id = uuid.uuid4().hex[:12]
    digest = uuid.uuid4().hex + uuid.uuid4().hex
    record = await repository.add_api_key(key_id, "ci", digest)
    assert record.last_used_at is None
    assert await repository.has_api_keys()
    found = await repository.find_api_key(digest)
    assert found is not None and found.id == key_id
    assert await repository.find_api_key("0" * 64) is None
    when = datetime(2026, 1, 1, tzinfo=UTC)
    await repository.touch_api_key(key_id, when)
    touched = await repository.find_api_key(digest)
    assert touched is not None and touched.last_used_at == when
    assert key_id in [item.id for item in await repository.list_api_keys()]
    assert await repository.delete_api_key(key_id)
    assert not await repository.delete_api_key(key_id)
    assert await repository.find_api_key(digest) is None


# -- run outcomes (the local runtime's records) ---------------------------------------------

RESULT = {
    "status": "completed",
    # Not in sorted order: the store must give node results back in document order.
    "node_results": {
        name: {"status": "completed", "output": {"n": i}}
        for i, name in enumerate(["zeta", "alpha", "mid", "b", "aa"])
    },
    "error": None,
}


def run_record(engine: str, *, status: str | None = "running", **fields: object) -> ExecutionRecord:
    values: dict[str, object] = {
        "execution_id": new_id("run"),
        "workflow_id": "wf",
        "version": None,
        "engine": engine,
        "created_at": datetime.now(UTC),
        "run_id": uuid.uuid4().hex,
        "status": status,
    }
    values.update(fields)
    return ExecutionRecord(**values)  # type: ignore[arg-type]


async def test_a_run_outcome_is_recorded_and_read_back_in_order(repository: Repository) -> None:
    record = await repository.record_execution(run_record("local"))
    finished = datetime(2026, 6, 1, 10, 0, 1, 250000, tzinfo=UTC)
    events = [{"time": "t", "node_id": "zeta", "event": "attempt_failed", "attempt": 1}]
    assert await repository.finish_execution(
        record.execution_id,
        status="failed",
        finished_at=finished,
        error={"type": "Boom", "message": "no"},
        result=RESULT,
        events=events,
    )
    light = await repository.get_execution(record.execution_id)
    assert light is not None
    assert (light.status, light.finished_at, light.error) == (
        "failed",
        finished,
        {"type": "Boom", "message": "no"},
    )
    assert (light.result, light.events) == (None, None)  # not read unless asked
    full = await repository.get_execution(record.execution_id, with_outcome=True)
    assert full is not None
    assert full.result == RESULT
    assert list(full.result["node_results"]) == ["zeta", "alpha", "mid", "b", "aa"]
    assert full.events == events
    assert not await repository.finish_execution(
        new_id("run"), status="completed", finished_at=finished
    )


async def test_running_records_of_one_engine_become_interrupted(repository: Repository) -> None:
    engine, other = new_id("engine"), new_id("engine")
    running = await repository.record_execution(run_record(engine))
    unknown = await repository.record_execution(run_record(engine, status=None))
    done = await repository.record_execution(run_record(engine, status="completed"))
    elsewhere = await repository.record_execution(run_record(other))
    error = {"type": "Interrupted", "message": "process stopped"}
    when = datetime(2026, 6, 2, tzinfo=UTC)
    marked = await repository.interrupt_executions(engine, error=error, when=when)
    assert marked == sorted([running.execution_id, unknown.execution_id])
    for record in (running, unknown):
        stored = await repository.get_execution(record.execution_id)
        assert stored is not None
        assert (stored.status, stored.finished_at, stored.error) == ("interrupted", when, error)
    kept = await repository.get_execution(done.execution_id)
    assert kept is not None and kept.status == "completed" and kept.error is None
    untouched = await repository.get_execution(elsewhere.execution_id)
    assert untouched is not None and untouched.status == "running"
    assert await repository.interrupt_executions(engine, error=error) == []


async def test_find_executions_filters_and_pages_newest_first(repository: Repository) -> None:
    engine = new_id("engine")
    base = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    records = [
        await repository.record_execution(
            run_record(
                engine,
                status=status,
                workflow_id=workflow_id,
                created_at=base + timedelta(minutes=minute),
            )
        )
        for minute, status, workflow_id in [
            (0, "completed", "a"),
            (1, "failed", "a"),
            (2, "running", "b"),
            (3, "completed", "a"),
            (3, "completed", "b"),  # same instant: the id breaks the tie
        ]
    ]
    await repository.record_execution(run_record(new_id("engine")))  # another engine

    def ids(found: Sequence[ExecutionRecord]) -> list[str]:
        return [record.execution_id for record in found]

    newest_first = sorted(records, key=lambda r: (r.created_at, r.execution_id), reverse=True)
    assert ids(await repository.find_executions(engine)) == ids(newest_first)
    by_a = await repository.find_executions(engine, workflow_id="a")
    assert {record.workflow_id for record in by_a} == {"a"} and len(by_a) == 3
    done = await repository.find_executions(engine, statuses=["completed"])
    assert len(done) == 3
    window = await repository.find_executions(
        engine,
        started_after=base + timedelta(minutes=1),
        started_before=base + timedelta(minutes=2),
    )
    assert ids(window) == [records[2].execution_id, records[1].execution_id]
    pages: list[str] = []
    before: tuple[datetime, str] | None = None
    while True:
        page = await repository.find_executions(engine, before=before, limit=2)
        pages.extend(ids(page))
        if len(page) < 2:
            break
        before = (page[-1].created_at, page[-1].execution_id)
    assert pages == ids(newest_first)
