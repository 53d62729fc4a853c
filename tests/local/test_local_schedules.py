"""The local scheduler's catch-up rule, driven with explicit clocks (no waiting)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest_asyncio

from flov7.config import Flov7Settings, NodeSettings, Settings, TemporalSettings
from flov7.local.backend import LocalBackend
from flov7.local.schedules import LocalSchedules
from flov7.store.database import Database
from flov7.store.schedules import ScheduleRecord
from flov7.triggers.schedules import ScheduleDocument

DOCUMENT = {
    "id": "tick",
    "nodes": [{"id": "a", "type": "transform", "data": {"mapping": {"n": 1}}}],
    "edges": [],
}


@pytest_asyncio.fixture(loop_scope="session")
async def schedules(tmp_path: Path) -> AsyncIterator[LocalSchedules]:
    settings = Settings(
        temporal=TemporalSettings(),
        flov7=Flov7Settings(_env_file=None, data_dir=tmp_path, enable_temporal_features=False),
        nodes=NodeSettings.from_values(),
    )
    async with (
        Database.open(f"sqlite+aiosqlite:///{tmp_path / 'flov7.db'}") as database,
        LocalBackend(settings, database=database, scheduler=False) as backend,
    ):
        yield await backend.schedules()


async def _add(schedules: LocalSchedules, schedule_id: str, **fields: object) -> None:
    target = ScheduleDocument(
        workflow_id="tick", version=None, requested_version="latest", document=DOCUMENT
    )
    record = ScheduleRecord(
        id=schedule_id,
        workflow_id="tick",
        fields={"interval_seconds": 60, **fields},
        target=target.model_dump(mode="json"),
        paused=False,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert await schedules.store.add(record)


async def test_missed_fires_collapse_into_the_latest_one(schedules: LocalSchedules) -> None:
    await _add(schedules, "catch-up")
    now = datetime(2026, 1, 1, 0, 10, 30, tzinfo=UTC)  # ten fires missed
    await schedules.tick(now)
    await schedules.tick(now)  # nothing more is due
    view = await schedules.get("catch-up")
    assert view.fired == 1
    assert [run.execution_id for run in view.recent_runs] == ["catch-up-2026-01-01T00:10:00Z"]
    assert len(view.next_fire_times) == 5
    assert "fires only while this process runs" in (view.limits or "")


async def test_fires_older_than_the_catchup_window_are_dropped(
    schedules: LocalSchedules,
) -> None:
    await _add(schedules, "too-late", catchup_window_seconds=10)
    await schedules.tick(datetime(2026, 1, 1, 0, 10, 30, tzinfo=UTC))
    view = await schedules.get("too-late")
    assert view.fired == 0 and view.recent_runs == []
    await schedules.tick(datetime(2026, 1, 1, 0, 11, 5, tzinfo=UTC))
    assert (await schedules.get("too-late")).fired == 1
