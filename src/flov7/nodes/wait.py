"""``wait``: waits durably for a named event sent to the run, then outputs its data.

An event is sent with ``POST /api/v1/workflow/event/{execution_id}``, ``flov7 event``,
or, by any Temporal client, the ``deliver_event`` signal (docs/triggers.md). On
Temporal the wait is a ``workflow.wait_condition`` on the signalled events with a
durable timer for the timeout: it survives worker and server restarts and costs
nothing while it waits. Past ``timeout_seconds`` the node fails with ``WaitTimedOut``,
which ``on_error`` and ``error`` edges handle like any failure.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from flov7.engine.events import EVENT_NAME_MAX_LENGTH, MAX_WAIT_SECONDS
from flov7.nodes.base import NodeConfig, NodeKind, NodeType

WAIT_TIMED_OUT = "WaitTimedOut"
"""The error type of a wait whose event did not come in time."""


class WaitConfig(NodeConfig):
    """Config of a ``wait`` node."""

    event: str = Field(
        min_length=1,
        max_length=EVENT_NAME_MAX_LENGTH,
        description="Name of the event to wait for (templates allowed). An event of "
        "that name sent before the node starts is kept and taken by it.",
        examples=["invoice_paid"],
    )
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        le=MAX_WAIT_SECONDS,
        description="Seconds to wait before failing with WaitTimedOut (at most 7 "
        "days); absent: wait until the event comes or the run is cancelled.",
        examples=[86400],
    )


class WaitNode(NodeType):
    """Waits for an event; outputs the event's data."""

    name = "wait"
    kind = NodeKind.EVENT
    config_model = WaitConfig
    description = (
        "Waits durably for the event named 'event' (sent through the API, the CLI or "
        "the deliver_event signal) and outputs its data; fails with WaitTimedOut after "
        "timeout_seconds."
    )
    example: ClassVar[dict[str, Any]] = {"event": "invoice_paid", "timeout_seconds": 86400}

    def event_wait(self, config: NodeConfig, node_id: str) -> tuple[str, float | None]:
        assert isinstance(config, WaitConfig)
        return config.event, config.timeout_seconds

    def event_output(self, config: NodeConfig, data: Any, received_at: str) -> Any:
        return data


wait_node = WaitNode()
