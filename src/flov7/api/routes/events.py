"""``POST /api/v1/workflow/event/{execution_id}``: send a named event to a run.

The run's ``wait`` node for that event takes it (an event sent before the node starts
is kept until it does). On Temporal this is the ``deliver_event`` signal, which any
Temporal client can send too (docs/triggers.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from flov7.api.deps import BackendDep
from flov7.api.runs import execution_links
from flov7.api.schemas.common import Links, error_responses
from flov7.engine.events import EVENT_NAME_MAX_LENGTH

router = APIRouter(prefix="/workflow", tags=["executions"])


class EventRequest(BaseModel):
    """An event for a run's ``wait`` node."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"event": "invoice_paid", "data": {"amount": 120}}]},
    )

    event: str = Field(
        min_length=1,
        max_length=EVENT_NAME_MAX_LENGTH,
        description="The event's name: what the `wait` node's `event` says.",
    )
    data: Any = Field(
        default=None, description="Any JSON: the output of the wait node that takes it."
    )


class EventAccepted(BaseModel):
    """The event was delivered to the run (a wait node takes it now or later)."""

    execution_id: str
    engine: str
    event: str
    status: str = Field(examples=["delivered"])
    links: Links


@router.post(
    "/event/{execution_id}",
    status_code=202,
    response_model=EventAccepted,
    responses=error_responses(404, 409, 503),
    summary="Send an event to a run",
    operation_id="send_event",
)
async def send_event(
    request: Request,
    backend: BackendDep,
    execution_id: Annotated[
        str,
        Path(min_length=1, max_length=1000, description="The run's execution id."),
    ],
    body: EventRequest,
) -> dict[str, Any]:
    """Deliver `event` with `data` to the run: its `wait` node for that event takes
    it, now if it waits, or when it starts (events sent early are kept, each taken by
    one wait, oldest first). 202 once delivered; 404 for an unknown run, 409 when the
    run is closed."""
    await backend.send_event(execution_id, body.event, body.data)
    return {
        "execution_id": execution_id,
        "engine": backend.engine,
        "event": body.event,
        "status": "delivered",
        "links": execution_links(request, execution_id),
    }
