"""``flov7 schedule``: create, show, pause, trigger, delete from the command line."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from flov7.store.database import Database
from flov7.store.repository import Repository
from test_cli import external, flov7  # noqa: F401  (external is a fixture)


async def test_schedule_commands(external: dict[str, str]) -> None:  # noqa: F811
    workflow_id = f"cli-sched-{uuid.uuid4().hex[:6]}"
    data_dir = Path(external["FLOV7_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    async with Database.open(f"sqlite+aiosqlite:///{data_dir / 'flov7.db'}") as database:
        document = {
            "id": workflow_id,
            "nodes": [{"id": "a", "type": "transform", "data": {"mapping": {"n": 1}}}],
            "edges": [],
        }
        await Repository(database).create_workflow(workflow_id, document)

    async def cli(*args: str) -> Any:
        return await asyncio.to_thread(flov7, "schedule", *args, env=external)

    schedule_id = f"{workflow_id}-hourly"
    created = await cli("create", workflow_id, "--id", schedule_id, "--cron", "0 * * * *")
    assert created.returncode == 0, created.stderr
    view = json.loads(created.stdout)
    assert view["cron"] == ["0 * * * *"] and view["version"] == 1
    assert len(view["next_fire_times"]) == 5
    bad = await cli("create", workflow_id, "--cron", "nope")
    assert bad.returncode == 1 and "cron[0]" in bad.stderr
    paused = await cli("pause", schedule_id, "--note", "holiday")
    assert json.loads(paused.stdout)["paused"] is True
    triggered = await cli("trigger", schedule_id)
    assert triggered.returncode == 0 and "one run started" in triggered.stderr
    listed = await cli("list")
    assert schedule_id in [s["schedule_id"] for s in json.loads(listed.stdout)["schedules"]]
    deleted = await cli("delete", schedule_id)
    assert deleted.returncode == 0, deleted.stderr
    gone = await cli("show", schedule_id)
    assert gone.returncode == 1 and "No schedule" in gone.stderr
