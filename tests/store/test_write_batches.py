"""Group commit: concurrent small writes share transactions; failures and cancellation."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import SQLAlchemyError

from flov7.store.database import Database
from flov7.store.repository import ExecutionRecord, Repository


def _record(index: int) -> ExecutionRecord:
    return ExecutionRecord(
        f"batch-{uuid.uuid4().hex[:12]}", f"wf-{index}", index, "temporal", datetime.now(UTC)
    )


def _count_commits(database: Database) -> list[int]:
    commits = [0]

    def counted(_connection: Any) -> None:
        commits[0] += 1

    event.listen(database.engine.sync_engine, "commit", counted)
    return commits


async def test_concurrent_writes_share_transactions(database: Database) -> None:
    repository = Repository(database)
    records = [_record(index) for index in range(60)]
    commits = _count_commits(database)
    await asyncio.gather(*(repository.record_execution(record) for record in records))
    await asyncio.gather(
        *(repository.set_execution_status(record.execution_id, "completed") for record in records)
    )
    assert 2 <= commits[0] < 2 * len(records) / 4  # 120 writes in far fewer transactions
    for record in records:
        stored = await repository.get_execution(record.execution_id)
        assert stored is not None and stored.status == "completed"
        assert (stored.workflow_id, stored.version) == (record.workflow_id, record.version)


async def test_a_bad_write_fails_alone(database: Database) -> None:
    repository = Repository(database)
    batched = database.batched_writes
    good = [_record(index) for index in range(5)]
    bad = batched.execute(text("INSERT INTO no_such_table (x) VALUES (:x)"), {"x": 1})
    outcomes = await asyncio.gather(
        bad, *(repository.record_execution(record) for record in good), return_exceptions=True
    )
    assert isinstance(outcomes[0], SQLAlchemyError)
    assert outcomes[1:] == good  # the shared transaction failed; each was tried alone
    for record in good:
        assert await repository.get_execution(record.execution_id) is not None
    after = _record(9)
    assert await repository.record_execution(after) == after


async def test_writing_inside_a_write_session_is_refused(database: Database) -> None:
    repository = Repository(database)
    async with database.session():
        with pytest.raises(RuntimeError, match="wait for itself"):
            async with database.session():
                pass
        with pytest.raises(RuntimeError, match="wait for it"):
            await repository.set_execution_status("any", "completed")
    assert await repository.record_execution(record := _record(3)) == record


async def test_a_caller_giving_up_cancels_nobody_else(database: Database) -> None:
    repository = Repository(database)
    records = [_record(index) for index in range(10)]
    tasks = [asyncio.create_task(repository.record_execution(record)) for record in records]
    await asyncio.sleep(0)  # every write is queued
    tasks[0].cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(outcomes[0], asyncio.CancelledError)
    assert outcomes[1:] == records[1:]
    # The abandoned write was already on its way: it lands like the others.
    for record in records:
        assert await repository.get_execution(record.execution_id) is not None


@pytest.mark.parametrize("duplicates", [2, 5])
async def test_duplicates_in_one_batch_keep_the_first(database: Database, duplicates: int) -> None:
    repository = Repository(database)
    execution_id = f"dup-{uuid.uuid4().hex[:12]}"
    records = [
        ExecutionRecord(execution_id, f"wf-{index}", index, "temporal", datetime.now(UTC))
        for index in range(duplicates)
    ]
    kept = await asyncio.gather(*(repository.record_execution(record) for record in records))
    assert all(record == records[0] for record in kept)
