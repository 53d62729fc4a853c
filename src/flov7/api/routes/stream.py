"""``GET /api/v1/workflow/stream/{execution_id}``: a run's changes as Server-Sent Events.

The stream polls the engine (the same status the status route answers) and sends only
what changed, until the run closes:

- ``status``: the whole run status (as ``GET /workflow/status``) at the start, whenever
  the run or any of its nodes changes, and once more when it closes (with the result);
- ``node``: ``{"node_id", ...NodeView}`` for each node whose state changed;
- ``end``: ``{"status"}`` when the run has closed; the stream ends after it.

A comment line goes out every :data:`KEEPALIVE_SECONDS` so proxies keep the connection
open. The route needs an API key like every ``/api`` route: browsers read it with
``fetch`` (headers can be set there, unlike ``EventSource``), so the key never goes
into a URL. Clients that lose the stream fall back to polling the status route.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from flov7.api.deps import ContextDep
from flov7.api.routes.executions import ExecutionId
from flov7.api.runs import status_body
from flov7.api.schemas.common import error_responses
from flov7.runs.views import FINAL_STATUSES

router = APIRouter(prefix="/workflow", tags=["executions"])

KEEPALIVE_SECONDS = 15.0
"""Seconds between two keep-alive comments when nothing changes."""


def sse(event: str, data: Any) -> str:
    """One Server-Sent Event (``data`` as one line of JSON)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def node_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``node`` events between two status bodies (every node at the first)."""
    previous = (before or {}).get("nodes") or {}
    return [
        {"node_id": node_id, **node}
        for node_id, node in (after.get("nodes") or {}).items()
        if previous.get(node_id) != node
    ]


def _run_changed(before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
    if before is None:
        return True
    # Any node change too: a client may follow the whole status alone (the web UI does).
    keys = ("status", "counts", "reason", "error", "finished_at", "execution_path", "nodes")
    return any(before.get(key) != after.get(key) for key in keys)


@router.get(
    "/stream/{execution_id}",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Events `status`, `node` and `end` until the run closes",
        },
        **error_responses(404, 503),
    },
    summary="Follow a run (Server-Sent Events)",
    operation_id="stream_execution",
)
async def stream(
    request: Request,
    context: ContextDep,
    execution_id: ExecutionId,
    poll: Annotated[
        float, Query(ge=0.1, le=10, description="Seconds between two looks at the run.")
    ] = 0.5,
) -> StreamingResponse:
    """The run's status and node changes as they happen, until it closes. 404 for an
    unknown id (before the stream starts)."""
    # The first status is read here, not in the generator: an unknown id is a plain 404.
    first = await status_body(context, request, await context.backend.status(execution_id))

    async def events() -> AsyncIterator[str]:
        previous: dict[str, Any] | None = None
        current = first
        last_sent = time.monotonic()
        while True:
            if _run_changed(previous, current):
                yield sse("status", current)
                last_sent = time.monotonic()
            for change in node_changes(previous, current):
                yield sse("node", change)
                last_sent = time.monotonic()
            if current["status"] in FINAL_STATUSES:
                yield sse("end", {"status": current["status"]})
                return
            if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
                yield ": keepalive\n\n"
                last_sent = time.monotonic()
            if await request.is_disconnected():
                return
            await asyncio.sleep(poll)
            previous = current
            status = await context.backend.status(execution_id)
            current = await status_body(context, request, status)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        # No caching, and no buffering by proxies (nginx honours X-Accel-Buffering).
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
