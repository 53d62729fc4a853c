"""Runs: execute, status, history, cancel, validate, list."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flov7.api.schemas.common import (
    EXECUTION_ID_MAX_LENGTH,
    EXECUTION_ID_PATTERN,
    WORKFLOW_ID_MAX_LENGTH,
    WORKFLOW_ID_PATTERN,
    Links,
)
from flov7.runs.views import HistoryPage, NodeView, RunListItem, RunPage, RunStatus

__all__ = [
    "CancelAccepted",
    "CancelRequest",
    "ExecuteAccepted",
    "ExecuteRequest",
    "ExecutionList",
    "ExecutionStatus",
    "ExecutionSummary",
    "History",
    "NodeStatus",
    "TerminateAccepted",
    "ValidateRequest",
    "ValidationIssue",
    "ValidationReport",
]

EXAMPLE_DOCUMENT: dict[str, Any] = {
    "id": "orders",
    "name": "Orders",
    "input": {"amount": 150},
    "nodes": [
        {"id": "check", "type": "condition", "data": {"condition": "input.amount > 100"}},
        {
            "id": "big",
            "type": "transform",
            "data": {"transform_type": "mapping", "mapping": {"size": "'big'"}},
        },
    ],
    "edges": [{"id": "e1", "source": "check", "target": "big", "sourceHandle": "true"}],
}


class ExecuteRequest(BaseModel):
    """Run a workflow: an inline document (`workflow_data`) or a stored one (`workflow_id`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"workflow_data": EXAMPLE_DOCUMENT, "input": {"amount": 250}},
                {"workflow_id": "orders", "version": 3, "execution_id": "orders-2024-06-01"},
            ]
        },
    )

    workflow_data: dict[str, Any] | None = Field(
        default=None, description="The workflow document to run (the guide's field)."
    )
    workflow_id: str | None = Field(
        default=None,
        max_length=WORKFLOW_ID_MAX_LENGTH,
        pattern=WORKFLOW_ID_PATTERN,
        description="A stored workflow to run instead of `workflow_data`.",
    )
    version: int | None = Field(
        default=None, ge=1, description="Version of the stored workflow (default: current)."
    )
    input: dict[str, Any] = Field(
        default_factory=dict, description="Run input, merged over the document's `input`."
    )
    execution_id: str | None = Field(
        default=None,
        max_length=EXECUTION_ID_MAX_LENGTH,
        pattern=EXECUTION_ID_PATTERN,
        description="Idempotency key and id of the run. Repeating it never starts a second "
        "run: the existing one is returned (`created: false`). Default: generated.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.workflow_data is None) == (self.workflow_id is None):
            raise ValueError("give exactly one of workflow_data and workflow_id")
        if self.version is not None and self.workflow_id is None:
            raise ValueError("version goes with workflow_id (a stored workflow)")
        return self


class ExecuteAccepted(BaseModel):
    """The run was started (or, for a repeated `execution_id`, found)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "execution_id": "orders-1b2c3d4e5f60",
                    "run_id": "0190b5a4-7a1c-7d7e-9f0b-2c1d3e4f5a6b",
                    "engine": "temporal",
                    "workflow_id": "orders",
                    "version": None,
                    "created": True,
                    "links": {
                        "status": "/api/v1/workflow/status/orders-1b2c3d4e5f60",
                        "history": "/api/v1/workflow/history/orders-1b2c3d4e5f60",
                        "cancel": "/api/v1/workflow/cancel/orders-1b2c3d4e5f60",
                    },
                }
            ]
        }
    )

    execution_id: str
    run_id: str | None
    engine: str
    workflow_id: str
    version: int | None
    created: bool = Field(description="False when `execution_id` named an existing run.")
    links: Links
    warnings: list[ValidationIssue] = Field(
        default_factory=list,
        description="Likely mistakes the validator found that did not stop the run "
        "(a field the parent's output cannot have, ...).",
    )


NodeStatus = NodeView
"""One node of a run (the run service's :class:`~flov7.runs.views.NodeView`)."""


class ExecutionStatus(RunStatus):
    """A run's status, per-node status and timing; result or error once closed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "execution_id": "orders-1b2c3d4e5f60",
                    "run_id": "0190b5a4-7a1c-7d7e-9f0b-2c1d3e4f5a6b",
                    "engine": "temporal",
                    "workflow_id": "orders",
                    "workflow_name": "Orders",
                    "version": None,
                    "status": "completed",
                    "engine_status": "COMPLETED",
                    "started_at": "2026-06-01T10:00:00+00:00",
                    "finished_at": "2026-06-01T10:00:01+00:00",
                    "nodes": {
                        "check": {
                            "type": "condition",
                            "status": "completed",
                            "attempts": 1,
                            "started_at": "2026-06-01T10:00:00.100000+00:00",
                            "finished_at": "2026-06-01T10:00:00.100000+00:00",
                            "duration_ms": 0.0,
                            "error": None,
                        }
                    },
                    "counts": {"completed": 2},
                    "execution_path": ["check", "big"],
                    "result": {"status": "completed", "node_results": {}},
                    "error": None,
                    "created": None,
                    "links": {
                        "status": "/api/v1/workflow/status/orders-1b2c3d4e5f60",
                        "history": "/api/v1/workflow/history/orders-1b2c3d4e5f60",
                        "cancel": "/api/v1/workflow/cancel/orders-1b2c3d4e5f60",
                    },
                }
            ]
        },
    )

    created: bool | None = Field(
        default=None, description="On execute with `wait=true`: whether this call started it."
    )
    links: Links


class History(HistoryPage):
    """One page of a run's history: a per-node timeline, or the engine's raw events."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "execution_id": "orders-1b2c3d4e5f60",
                    "engine": "temporal",
                    "raw": False,
                    "status": "completed",
                    "nodes": {
                        "fetch": {
                            "type": "api_call",
                            "status": "completed",
                            "attempts": 2,
                            "in_history": True,
                        }
                    },
                    "events": [
                        {
                            "time": "2026-06-01T10:00:00.1+00:00",
                            "event": "scheduled",
                            "node_id": "fetch",
                            "node_type": "api_call",
                            "attempt": None,
                            "source": "history",
                            "event_id": 5,
                            "details": {"activity_type": "flov7.api_call"},
                        },
                        {
                            "time": "2026-06-01T10:00:01.2+00:00",
                            "event": "attempt_failed",
                            "node_id": "fetch",
                            "node_type": "api_call",
                            "attempt": 1,
                            "source": "history",
                            "event_id": 6,
                            "details": {
                                "failed_attempts": 1,
                                "cause": {"type": "HttpError", "message": "503"},
                            },
                        },
                    ],
                    "total_events": 2,
                    "next_page_token": None,
                }
            ]
        }
    )


class CancelRequest(BaseModel):
    """Why the run is cancelled (optional, shown in its history)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "typo"}]})

    reason: str | None = Field(default=None, max_length=500)


class CancelAccepted(BaseModel):
    """The cancel signal was sent; the run stops shortly (status shows `cancelled`)."""

    execution_id: str
    engine: str
    status: str = Field(examples=["cancelling"])
    links: Links


class TerminateAccepted(BaseModel):
    """The run was terminated: it has ended (status shows `terminated`)."""

    execution_id: str
    engine: str
    status: str = Field(examples=["terminated"])
    links: Links


class ValidateRequest(BaseModel):
    """A document to validate, as for execute: `{"workflow_data": {...}}`."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"workflow_data": EXAMPLE_DOCUMENT}]}
    )

    workflow_data: dict[str, Any]


class ValidationIssue(BaseModel):
    """One problem, naming node, edge and field."""

    code: str = Field(examples=["unknown_node_type"])
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    field: str | None = None
    suggestion: str | None = Field(
        default=None,
        description="What was probably meant: a field path, a node type or a reference.",
        examples=["data.method"],
    )


class ValidationReport(BaseModel):
    """The validator's report (the guide's `valid` / `issues` / `warnings`)."""

    valid: bool
    issues: list[ValidationIssue]
    warnings: list[ValidationIssue]
    node_count: int
    edge_count: int


ExecutionSummary = RunListItem
"""One run in a listing (the run service's :class:`~flov7.runs.views.RunListItem`)."""

ExecutionList = RunPage
"""One page of runs, newest first (the run service's :class:`~flov7.runs.views.RunPage`)."""


ExecuteAccepted.model_rebuild()
