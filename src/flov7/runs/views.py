"""The typed run views every engine builds and every caller reads.

One set of models for what the run service answers, whichever engine ran the run:
a run's status (:class:`RunStatus`, with a :class:`NodeView` per node), a listing
page (:class:`RunPage` of :class:`RunListItem`), a history page (:class:`HistoryPage`,
with a :class:`NodeSummary` per node), and the engine's
health and description. The API's response schemas subclass these instead of
restating them, so a field added here shows in the API, the CLI and the docs at once.

Result documents and node errors stay JSON objects: they are the engine's own
documents (``docs/workflows.md``), passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from flov7.runs.timeline import duration_ms

__all__ = [
    "FINAL_STATUSES",
    "RUN_STATUSES",
    "EngineHealth",
    "EngineInfo",
    "HistoryPage",
    "NodeSummary",
    "NodeView",
    "Poller",
    "RunListItem",
    "RunPage",
    "RunStatus",
    "RunStatusName",
]

RunStatusName = Literal[
    "pending",
    "running",
    "completed",
    "failed",
    "cancelled",
    "timed_out",
    "terminated",
    "interrupted",
]
"""The name of a run status (see :data:`RUN_STATUSES`)."""

RUN_STATUSES: tuple[str, ...] = get_args(RunStatusName)
"""What a run's ``status`` can be. ``pending``: started, no worker has picked it up yet
(``reason`` says why when it can). ``timed_out`` / ``terminated``: Temporal ended the
run itself (execution timeout, operator). ``interrupted``: a local run whose process
stopped before it finished (the local runtime is not durable). The others are the
Flov7 run statuses of the result document."""

FINAL_STATUSES = frozenset(
    {"completed", "failed", "cancelled", "timed_out", "terminated", "interrupted"}
)
"""Statuses of a closed run."""


class _View(BaseModel):
    # Views are built by engines from documents they wrote themselves; extra keys are
    # a programming error, caught by the tests rather than silently dropped.
    model_config = ConfigDict(extra="forbid")


class NodeView(_View):
    """One node of a run, as its status shows it."""

    type: str | None = None
    status: str | None = Field(
        default=None,
        description="pending, running, waiting (a wait or approval node waiting for "
        "its event: see waiting_for), completed, failed, skipped or cancelled.",
    )
    waiting_for: str | None = Field(
        default=None, description="While the node is waiting: the event it waits for."
    )
    attempts: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: float | None = None
    error: dict[str, Any] | None = None
    worker: str | None = Field(
        default=None, description="Identity of the worker that ran the node's last attempt."
    )
    progress: dict[str, int] | None = Field(
        default=None,
        description="A for_each node's progress: items_done, items_total, items_failed.",
    )
    child_execution_id: str | None = Field(
        default=None, description="A workflow node's sub-workflow run (its execution id)."
    )

    @classmethod
    def from_state(cls, node: Mapping[str, Any]) -> NodeView:
        """A node state (an entry of the status report or of ``node_results``)."""
        started, finished = node.get("started_at"), node.get("finished_at")
        worker = node.get("worker")
        waiting_for = node.get("waiting_for")
        return cls(
            type=node.get("type"),
            status=node.get("status"),
            attempts=node.get("attempts"),
            started_at=started,
            finished_at=finished,
            duration_ms=duration_ms(started, finished),
            error=node.get("error"),
            worker=worker if isinstance(worker, str) else None,
            waiting_for=waiting_for if isinstance(waiting_for, str) else None,
            progress=node.get("progress") if isinstance(node.get("progress"), dict) else None,
            child_execution_id=node.get("child_execution_id"),
        )


class RunStatus(_View):
    """A run's status, per-node status and timing; result or error once closed."""

    execution_id: str
    run_id: str | None = None
    engine: str
    workflow_id: str | None = None
    workflow_name: str | None = None
    version: int | None = None
    trigger: dict[str, Any] | None = Field(
        default=None,
        description="What started the run when not a caller: "
        '`{"type": "schedule", "schedule_id": ...}`.',
    )
    status: str = Field(
        description="pending (no worker picked it up yet), running, completed, failed, "
        "cancelled, timed_out, terminated, or interrupted (a local run whose process "
        "stopped before it finished: the local runtime is not durable)."
    )
    engine_status: str | None = Field(
        default=None,
        description="The engine's own status (Temporal: RUNNING, COMPLETED, FAILED, "
        "CANCELED...; local: RUNNING, COMPLETED, INTERRUPTED).",
    )
    reason: str | None = Field(
        default=None,
        description="Why an open run is not progressing: no live worker polls its task "
        "queue, or its workflow task keeps failing (type and message).",
    )
    started_at: str | None = None
    finished_at: str | None = None
    nodes: dict[str, NodeView] = Field(default_factory=dict)
    parent: dict[str, Any] | None = Field(
        default=None,
        description="For a sub-workflow run: the run that called it (execution_id, "
        "node_id, depth); its workflow node shows this run's child_execution_id.",
    )
    rerun_of: str | None = Field(
        default=None, description="For a rerun: the execution id of the run it reruns."
    )
    reruns: list[str] | None = Field(
        default=None,
        description="The reruns of this run, oldest first (filled in by the API from its store).",
    )
    counts: dict[str, int] = Field(default_factory=dict)
    execution_path: list[str] = Field(default_factory=list)
    result: dict[str, Any] | None = Field(
        default=None, description="The result document (node outputs), once closed."
    )
    error: dict[str, Any] | None = None

    @property
    def closed(self) -> bool:
        """True once the run has ended, whatever the outcome."""
        return self.status in FINAL_STATUSES

    def show_result(self, result: Mapping[str, Any]) -> None:
        """Fill nodes, counts, path, status, result and error from a result document."""
        nodes = result.get("node_results") or {}
        self.nodes = {node_id: NodeView.from_state(node) for node_id, node in nodes.items()}
        counts: dict[str, int] = {}
        for view in self.nodes.values():
            counts[str(view.status)] = counts.get(str(view.status), 0) + 1
        self.workflow_name = result.get("workflow_name")
        self.status = str(result.get("status") or "completed")
        self.counts = counts
        self.execution_path = list(result.get("execution_path") or [])
        self.result = dict(result)
        self.error = result.get("error")
        self.parent = result.get("parent")
        self.rerun_of = result.get("rerun_of")

    def show_report(self, report: Mapping[str, Any]) -> None:
        """Fill nodes, counts, path and error from a live status report
        (``get_status``); the run's own status is the caller's to set."""
        nodes = report.get("nodes") or {}
        self.workflow_name = report.get("workflow_name")
        self.nodes = {node_id: NodeView.from_state(node) for node_id, node in nodes.items()}
        self.counts = dict(report.get("counts") or {})
        self.execution_path = list(report.get("execution_path") or [])
        self.error = report.get("error")
        self.parent = report.get("parent")
        self.rerun_of = report.get("rerun_of")


class RunListItem(_View):
    """One run in a listing."""

    execution_id: str
    run_id: str | None = None
    engine: str
    workflow_id: str | None = None
    version: int | None = None
    trigger: dict[str, Any] | None = None
    status: str
    engine_status: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    rerun_of: str | None = Field(
        default=None, description="For a rerun: the execution id of the run it reruns."
    )


class RunPage(_View):
    """One page of runs, newest first (by start time)."""

    executions: list[RunListItem]
    next_page_token: str | None = Field(
        default=None, description="Pass as `page_token` for the next page; null at the end."
    )
    engine: str | None = Field(default=None, examples=["temporal"])


class NodeSummary(NodeView):
    """One node's line in a history page (every node of the run shows)."""

    in_history: bool = Field(
        default=False, description="True when the engine recorded events for this node."
    )


class HistoryPage(_View):
    """One page of a run's history: a per-node timeline, or the engine's raw events."""

    execution_id: str
    run_id: str | None = None
    engine: str
    raw: bool = Field(description="True: `events` are the engine's own events.")
    status: str | None = None
    nodes: dict[str, NodeSummary] | None = Field(
        default=None, description="Timeline view: one summary per node (every node shows)."
    )
    events: list[dict[str, Any]] = Field(
        description="Timeline entries (`time`, `event`, `node_id`, `node_type`, `attempt`, "
        "`source` history|workflow|local, `event_id`, `details`), or the engine's raw "
        "events: Temporal's (MessageToDict, stack traces removed), or the local runtime's "
        "(failed attempts, cancel requests)."
    )
    total_events: int | None = None
    next_page_token: str | None = Field(
        default=None, description="Pass as `page_token` for the next page; null at the end."
    )


class Poller(_View):
    """A worker seen polling the task queue."""

    identity: str
    last_access_time: str
    live: bool = Field(description="Polled within the liveness window.")


class EngineHealth(_View):
    """The engine as this process sees it."""

    status: Literal["ok", "unhealthy", "disabled"] = Field(examples=["ok"])
    engine: str = Field(examples=["temporal"])
    target: str | None = Field(default=None, examples=["127.0.0.1:7233"])
    namespace: str | None = Field(default=None, examples=["default"])
    task_queue: str | None = Field(default=None, examples=["flov7-workflow-task-queue"])
    embedded_server: bool = False
    reachable: bool = False
    latency_ms: float | None = Field(default=None, description="check_health round trip.")
    worker_running: bool = Field(default=False, description="This process runs a worker.")
    live_window_seconds: float | None = Field(
        default=None,
        description="A poller whose last poll is older than this is counted as gone.",
    )
    pollers: list[Poller] = Field(
        default_factory=list, description="Workers seen polling the task queue."
    )
    reason: str | None = Field(default=None, description="Why it is unhealthy.")

    @property
    def healthy(self) -> bool:
        """True when runs started now would be picked up."""
        return self.status == "ok"


class EngineInfo(_View):
    """What an engine is and what this process runs of it (for banners and probes)."""

    engine: str
    target: str | None = None
    embedded_server: bool = False
    ui_url: str | None = None
    worker_running: bool = False
    worker_identity: str | None = None
    task_queue: str | None = None
    data_dir: str | None = None
