"""Both engines, side by side: the same requests get the same answers.

The same documents run through the API on Temporal and on the local runtime; status,
history and listing answers must be equal once the fields that differ by nature are
set aside: ids, times, ``engine``, and where each timeline entry was recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from api_support import (
    API,
    WAIT,
    api_settings,
    client_for,
    delay,
    document,
    running_app,
    transform,
)

from flov7.config import TemporalSettings
from flov7.local.backend import LocalBackend
from flov7.store.database import Database

_TIMES = {"started_at", "finished_at", "duration_ms", "time"}
_RUN_ENDS = {"run_completed", "run_failed", "run_cancelled"}
_PER_RUN = {"execution_id", "run_id", "engine", "links", "created", "worker", *_TIMES}


def comparable(value: Any) -> Any:
    """``value`` without what differs between two runs of one document by nature."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k not in _PER_RUN}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


def timeline_view(body: dict[str, Any]) -> dict[str | None, list[tuple[Any, ...]]]:
    """Per node, the entries of nodes evaluated in workflow code, and the run's end: those
    must match. (I/O nodes' entries differ in detail, see test_api_history; and entries
    Temporal stamps with one workflow task's time are ordered by document, not time.)"""
    view: dict[str | None, list[tuple[Any, ...]]] = {}
    for entry in body["events"]:
        if entry["source"] == "workflow" or entry["event"] in _RUN_ENDS:
            view.setdefault(entry["node_id"], []).append(
                (entry["event"], entry["node_type"], entry["details"])
            )
    return view


@pytest_asyncio.fixture(loop_scope="session")
async def local_api(
    local_backend: LocalBackend, api_database: Database, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the local runtime, next to ``temporal_api``."""
    settings = api_settings(TemporalSettings(), tmp_path, enable_temporal_features=False)
    async with (
        running_app(settings, backend=local_backend, database=api_database) as app,
        client_for(app) as client,
    ):
        yield client


BRANCHES = document(
    {"id": "check", "type": "condition", "data": {"condition": "input.amount > 100"}},
    transform("big", size="'big'", amount="inputs.amount"),
    transform("small", size="'small'"),
    {
        "id": "shaky",
        "type": "transform",
        "data": {"mapping": {"x": "1 / 0"}},
        "on_error": "continue",
    },
    delay("pause", 0),
    transform("report", seen="nodes.big.output.size", error="inputs.error.type"),
    edges=[
        {"id": "e1", "source": "check", "target": "big", "sourceHandle": "true"},
        {"id": "e2", "source": "check", "target": "small", "sourceHandle": "false"},
        {"id": "e3", "source": "big", "target": "shaky"},
        {"id": "e4", "source": "shaky", "target": "pause"},
        {"id": "e5", "source": "pause", "target": "report"},
    ],
    input={"amount": 150},
    name="Branches",
)
FAILING = document(
    transform("a", v="input.v"),
    transform("boom", x="inputs.v / 0"),
    transform("after"),
    edges=[
        {"id": "e1", "source": "a", "target": "boom"},
        {"id": "e2", "source": "boom", "target": "after"},
    ],
    input={"v": 1},
)


@pytest.mark.parametrize("doc", [BRANCHES, FAILING], ids=["branches", "failing"])
async def test_same_status_and_timeline_on_both_engines(
    temporal_api: httpx.AsyncClient, local_api: httpx.AsyncClient, doc: dict[str, Any]
) -> None:
    answers: dict[str, dict[str, Any]] = {}
    timelines: dict[str, dict[str, Any]] = {}
    for name, client in (("temporal", temporal_api), ("local", local_api)):
        execution_id = f"{name}-{uuid.uuid4().hex[:8]}"
        response = await client.post(
            f"{API}/workflow/execute",
            json={"workflow_data": doc, "execution_id": execution_id},
            params=WAIT,
        )
        assert response.status_code == 200, response.text
        answers[name] = response.json()
        assert answers[name]["engine"] == name
        history = await client.get(f"{API}/workflow/history/{execution_id}")
        assert history.status_code == 200, history.text
        timelines[name] = history.json()
    assert comparable(answers["local"]) == comparable(answers["temporal"])
    assert set(timelines["local"]) == set(timelines["temporal"])
    assert timeline_view(timelines["local"]) == timeline_view(timelines["temporal"])
    local_nodes = comparable(timelines["local"]["nodes"])
    temporal_nodes = comparable(timelines["temporal"]["nodes"])
    for nodes in (local_nodes, temporal_nodes):
        for summary in nodes.values():
            summary.pop("in_history")  # where an entry came from: engine-specific
    assert local_nodes == temporal_nodes
    for name, timeline in timelines.items():
        assert timeline["events"][0]["event"] == "run_started", name
        assert timeline["events"][-1]["event"] in _RUN_ENDS, name
        assert set(timeline["events"][0]) == {
            "time",
            "event",
            "node_id",
            "node_type",
            "attempt",
            "source",
            "event_id",
            "details",
        }
