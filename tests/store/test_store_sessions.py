"""Read and write sessions: readers never wait for a writer; this process's writers queue."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime

from flov7.store.database import Database
from flov7.store.models import ExecutionRow
from flov7.store.repository import ExecutionRecord, Repository


def _record(workflow_id: str = "wf") -> ExecutionRecord:
    return ExecutionRecord(
        f"run-{uuid.uuid4().hex[:12]}", workflow_id, None, "temporal", datetime.now(UTC)
    )


async def test_a_reader_does_not_wait_for_an_open_writer(database: Database) -> None:
    repository = Repository(database)
    committed = _record()
    await repository.record_execution(committed)
    pending = _record()
    async with database.session() as session:
        session.add(ExecutionRow(**_row_values(pending)))
        await session.flush()  # the writer holds its lock (on SQLite, the database's)
        # A reader that took the write lock would wait here for SQLite's busy timeout
        # (15 s) and then fail; the bound only keeps a regression from hanging the suite.
        seen = await asyncio.wait_for(repository.get_execution(committed.execution_id), 10)
        unseen = await asyncio.wait_for(repository.get_execution(pending.execution_id), 10)
    assert seen is not None and seen.workflow_id == "wf"
    assert unseen is None  # not committed yet when it read
    assert await repository.get_execution(pending.execution_id) is not None


async def test_many_concurrent_writers_all_land(database: Database) -> None:
    repository = Repository(database)
    records = [_record(f"wf-{index}") for index in range(40)]
    kept = await asyncio.gather(*(repository.record_execution(record) for record in records))
    assert kept == records
    closed = await asyncio.gather(
        *(repository.close_execution(record.execution_id, "completed") for record in records)
    )
    assert closed == [[] for _ in records]
    for record in records:
        stored = await repository.get_execution(record.execution_id)
        assert stored is not None and stored.status == "completed"


async def test_close_execution_caches_the_status_and_returns_the_reruns(
    database: Database,
) -> None:
    repository = Repository(database)
    original = _record()
    await repository.record_execution(original)
    rerun = dataclasses.replace(_record(), rerun_of=original.execution_id)
    await repository.record_execution(rerun)
    assert await repository.close_execution(original.execution_id, "failed") == [rerun.execution_id]
    stored = await repository.get_execution(original.execution_id)
    assert stored is not None and stored.status == "failed"
    assert await repository.close_execution(f"run-{uuid.uuid4().hex}", "failed") == []


def _row_values(record: ExecutionRecord) -> dict[str, object]:
    return {
        "execution_id": record.execution_id,
        "workflow_id": record.workflow_id,
        "version": record.version,
        "engine": record.engine,
        "created_at": record.created_at,
    }
