"""/api/v1/schedules on both engines: Temporal Schedules (the real dev server) and the
local engine's in-process scheduler.

Intervals of 1 s: a schedule fires at least twice, its runs are listed with their
trigger and found by ``schedule_id``; pause stops it; backfill starts the runs of a past
window; invalid fields answer 422 naming them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from api_support import API, eventually, only_on

DOCUMENT: dict[str, Any] = {
    "nodes": [{"id": "a", "type": "transform", "data": {"mapping": {"n": "input.n"}}}],
    "edges": [],
    "input": {"n": 1},
}


async def _stored_workflow(api: httpx.AsyncClient) -> str:
    workflow_id = f"sched-{uuid.uuid4().hex[:8]}"
    response = await api.post(
        f"{API}/workflows", json={"id": workflow_id, "document": {"id": workflow_id, **DOCUMENT}}
    )
    assert response.status_code == 201, response.text
    return workflow_id


async def _schedule(api: httpx.AsyncClient, schedule_id: str) -> dict[str, Any]:
    response = await api.get(f"{API}/schedules/{schedule_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_interval_schedule_fires_lists_its_runs_and_pauses(
    api: httpx.AsyncClient, engine: str
) -> None:
    workflow_id = await _stored_workflow(api)
    schedule_id = f"every-second-{uuid.uuid4().hex[:6]}"
    response = await api.post(
        f"{API}/schedules",
        json={
            "schedule_id": schedule_id,
            "workflow_id": workflow_id,
            "interval_seconds": 1,
            "input": {"n": 7},
            "note": "test",
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["engine"] == engine and created["version"] == 1
    assert created["requested_version"] == "latest"
    assert len(created["next_fire_times"]) == 5
    try:

        async def fired_twice() -> dict[str, Any] | None:
            view = await _schedule(api, schedule_id)
            done = [r for r in view["recent_runs"] if r["status"] == "completed"]
            return view if len(done) >= 2 else None

        view = await eventually(fired_twice, within=60)
        run = view["recent_runs"][-1]
        assert run["execution_id"].startswith(schedule_id)
        status = (await api.get(f"{API}/workflow/status/{run['execution_id']}")).json()
        assert status["trigger"] == {"type": "schedule", "schedule_id": schedule_id}
        assert status["workflow_id"] == workflow_id
        assert status["result"]["node_results"]["a"]["output"] == {"n": 7}

        async def listed() -> list[dict[str, Any]] | None:
            page = await api.get(f"{API}/workflow/executions", params={"schedule_id": schedule_id})
            assert page.status_code == 200, page.text
            runs: list[dict[str, Any]] = page.json()["executions"]
            return runs if len(runs) >= 2 else None

        runs = await eventually(listed)
        assert all(r["trigger"]["schedule_id"] == schedule_id for r in runs)

        paused = await api.post(f"{API}/schedules/{schedule_id}/pause", json={"note": "quiet"})
        assert paused.status_code == 200 and paused.json()["paused"] is True
        assert paused.json()["note"] == "quiet"
        fired = (await _schedule(api, schedule_id))["fired"]
        # Paused: a manual trigger still runs, the interval does not.
        assert (await api.post(f"{API}/schedules/{schedule_id}/trigger")).status_code == 202
        after = await eventually(lambda: _fired_more_than(api, schedule_id, fired), within=30)
        assert after["paused"] is True and after["next_fire_times"] == []
        # A running interval of 1 s would have fired more by the time a second trigger
        # is seen; paused, only the two triggers count.
        assert (await api.post(f"{API}/schedules/{schedule_id}/trigger")).status_code == 202
        again = await eventually(lambda: _fired_more_than(api, schedule_id, fired + 1), within=30)
        assert again["fired"] == fired + 2

        listing = (await api.get(f"{API}/schedules", params={"page_size": 100})).json()
        assert schedule_id in [s["schedule_id"] for s in listing["schedules"]]

        patched = await api.patch(
            f"{API}/schedules/{schedule_id}",
            json={"cron": "0 7 * * 1-5", "timezone": "Europe/Paris", "interval_seconds": None},
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["cron"] == ["0 7 * * 1-5"]
        assert patched.json()["timezone"] == "Europe/Paris"
        assert patched.json()["paused"] is True
        resumed = await api.post(f"{API}/schedules/{schedule_id}/resume")
        assert resumed.json()["paused"] is False
        first_fire = datetime.fromisoformat(resumed.json()["next_fire_times"][0])
        assert first_fire.astimezone(UTC).minute == 0
    finally:
        deleted = await api.delete(f"{API}/schedules/{schedule_id}")
    assert deleted.status_code == 204
    assert (await api.get(f"{API}/schedules/{schedule_id}")).status_code == 404


async def _fired_more_than(
    api: httpx.AsyncClient, schedule_id: str, count: int
) -> dict[str, Any] | None:
    view = await _schedule(api, schedule_id)
    return view if view["fired"] > count else None


async def test_backfill_starts_the_runs_of_a_past_window(api: httpx.AsyncClient) -> None:
    workflow_id = await _stored_workflow(api)
    schedule_id = f"backfill-{uuid.uuid4().hex[:6]}"
    response = await api.post(
        f"{API}/schedules",
        json={
            "schedule_id": schedule_id,
            "workflow_id": workflow_id,
            "cron": ["0 * * * *"],
            "paused": True,
        },
    )
    assert response.status_code == 201, response.text
    try:
        end = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
        start = end - timedelta(hours=3)
        answer = await api.post(
            f"{API}/schedules/{schedule_id}/backfill",
            json={"start": start.isoformat(), "end": end.isoformat()},
        )
        assert answer.status_code == 202, answer.text

        async def three_runs() -> dict[str, Any] | None:
            view = await _schedule(api, schedule_id)
            return view if len(view["recent_runs"]) >= 3 else None

        view = await eventually(three_runs, within=60)
        assert len(view["recent_runs"]) == 3
        scheduled = sorted(r["scheduled_at"] for r in view["recent_runs"])
        assert all(datetime.fromisoformat(s).minute == 0 for s in scheduled)

        # A new version of the workflow: the `latest` schedule runs it from now on.
        document = {"id": workflow_id, **DOCUMENT, "input": {"n": 2}}
        updated = await api.put(f"{API}/workflows/{workflow_id}", json={"document": document})
        assert updated.status_code == 200, updated.text
        view = await _schedule(api, schedule_id)
        assert view["version"] == 2 and view["requested_version"] == "latest"
        assert view["paused"] is True and view["cron"] == ["0 * * * *"]
    finally:
        await api.delete(f"{API}/schedules/{schedule_id}")


async def test_invalid_fields_are_named(api: httpx.AsyncClient) -> None:
    workflow_id = await _stored_workflow(api)
    cases = [
        ({"workflow_id": workflow_id, "cron": "every day"}, "cron[0]"),
        ({"workflow_id": workflow_id, "cron": "* * * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"workflow_id": "no-such-workflow", "interval_seconds": 60}, "workflow_id"),
        ({"workflow_id": workflow_id, "interval_seconds": 60, "version": 9}, "version"),
    ]
    for body, field in cases:
        response = await api.post(f"{API}/schedules", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["field"] == field
        assert field.split("[")[0] in response.json()["error"]["message"]
    missing = await api.post(f"{API}/schedules", json={"workflow_id": workflow_id})
    assert missing.status_code == 422
    assert (await api.post(f"{API}/schedules/nope-{uuid.uuid4().hex}/pause")).status_code == 404


@only_on("local")
async def test_the_local_engine_states_its_limits(api: httpx.AsyncClient) -> None:
    workflow_id = await _stored_workflow(api)
    response = await api.post(
        f"{API}/schedules", json={"workflow_id": workflow_id, "interval_seconds": 3600}
    )
    assert response.status_code == 201, response.text
    assert "fires only while this process runs" in response.json()["limits"]
    await api.delete(f"{API}/schedules/{response.json()['schedule_id']}")
