"""Flov7's Prometheus metrics (``flov7_*``), one registry per process.

Each process exposes what it did itself: ``flov7 serve`` on ``GET /metrics`` (API
requests, and the runs and nodes of its in-process worker or local runtime), ``flov7
worker`` on its own port (``FLOV7_METRICS_PORT``). Prometheus adds them up.

Where each family is recorded, so that nothing is counted twice:

- run metrics (``flov7_runs_*``, ``flov7_run_duration_seconds``): once per run, by
  the engine that runs it: the Temporal workflow (only when it is not replaying
  history, see :mod:`flov7.temporal.observe`) or the local runtime. A terminate is
  counted by whoever terminates (the workflow never sees it).
- node metrics (``flov7_node_*``): where the node runs. I/O nodes: per attempt, in the
  activity (or the local runner); pure and delay nodes: in the workflow (not on replay)
  or the local runtime.
- HTTP metrics: the API middleware, with the route *template* as label.

Label values are bounded: ``workflow_id`` keeps its first :data:`MAX_WORKFLOW_LABELS`
values, later ones are counted under ``"_other"``; ``trigger``, ``status``,
``outcome`` and ``method`` come from fixed sets; no execution id is ever a label.

This module imports neither an engine nor the API (``observability`` is a low layer):
workflow code imports it passed through the sandbox.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Iterator
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

__all__ = [
    "CONTENT_TYPE",
    "MAX_WORKFLOW_LABELS",
    "OTHER",
    "REGISTRY",
    "TRIGGERS",
    "record_http_request",
    "record_node_execution",
    "record_run_finished",
    "record_run_started",
    "render",
    "serve_metrics",
    "slot_in_use",
]

log = logging.getLogger(__name__)

REGISTRY: Final = CollectorRegistry(auto_describe=True)
"""Flov7's own registry (not the library's global one: nothing else leaks in)."""

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
"""The Prometheus text exposition format's content type."""

MAX_WORKFLOW_LABELS: Final = 500
OTHER: Final = "_other"

TRIGGERS: Final = frozenset(
    {"api", "cli", "schedule", "webhook", "hook", "workflow", "rerun", "temporal"}
)
"""Known start paths; anything else is counted as ``other``."""
_RUN_STATUSES: Final = frozenset({"completed", "failed", "cancelled", "terminated", "timed_out"})
_NODE_OUTCOMES: Final = frozenset({"completed", "failed", "cancelled"})
_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

# Runs take from milliseconds (pure graphs) to the workflow timeout (30 min by default).
_RUN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600)
_NODE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

RUNS_STARTED: Final = Counter(
    "flov7_runs_started",
    "Runs started, by workflow id and start path.",
    ["workflow_id", "trigger"],
    registry=REGISTRY,
)
RUNS_FINISHED: Final = Counter(
    "flov7_runs_finished", "Runs finished, by final status.", ["status"], registry=REGISTRY
)
RUN_DURATION: Final = Histogram(
    "flov7_run_duration_seconds",
    "Wall time of a run, start to end.",
    buckets=_RUN_BUCKETS,
    registry=REGISTRY,
)
NODE_EXECUTIONS: Final = Counter(
    "flov7_node_executions",
    "Node executions (each attempt of an I/O node counts), by node type and outcome.",
    ["type", "outcome"],
    registry=REGISTRY,
)
NODE_DURATION: Final = Histogram(
    "flov7_node_duration_seconds",
    "Time one node execution (attempt) took, by node type.",
    ["type"],
    buckets=_NODE_BUCKETS,
    registry=REGISTRY,
)
NODE_RETRIES: Final = Counter(
    "flov7_node_retries",
    "Attempts of I/O nodes beyond the first, by node type.",
    ["type"],
    registry=REGISTRY,
)
HTTP_REQUESTS: Final = Counter(
    "flov7_http_requests",
    "API requests, by route template, method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_DURATION: Final = Histogram(
    "flov7_http_request_duration_seconds",
    "API request latency, by route template.",
    ["route"],
    buckets=_HTTP_BUCKETS,
    registry=REGISTRY,
)
WORKER_SLOTS_IN_USE: Final = Gauge(
    "flov7_worker_slots_in_use",
    "Worker task slots busy right now, by kind (activity, local_activity).",
    ["kind"],
    registry=REGISTRY,
)

_lock = threading.Lock()
_workflow_labels: set[str] = set()


def _workflow_label(workflow_id: str) -> str:
    """``workflow_id`` itself for the first :data:`MAX_WORKFLOW_LABELS` ids, then OTHER."""
    with _lock:
        if workflow_id in _workflow_labels:
            return workflow_id
        if len(_workflow_labels) < MAX_WORKFLOW_LABELS:
            _workflow_labels.add(workflow_id)
            return workflow_id
    return OTHER


def _one_of(value: str, allowed: frozenset[str], fallback: str = "other") -> str:
    return value if value in allowed else fallback


def record_run_started(workflow_id: str, trigger: str | None) -> None:
    """One run started (call once per run, by the engine running it)."""
    RUNS_STARTED.labels(
        workflow_id=_workflow_label(workflow_id or "unknown"),
        trigger=_one_of(trigger or "other", TRIGGERS),
    ).inc()


def record_run_finished(status: str, duration_seconds: float | None) -> None:
    """One run finished with ``status`` (once per run)."""
    RUNS_FINISHED.labels(status=_one_of(status, _RUN_STATUSES)).inc()
    if duration_seconds is not None and duration_seconds >= 0:
        RUN_DURATION.observe(duration_seconds)


# The labelled children of the per-node metrics, looked up once per label value:
# ``labels()`` takes a lock and builds its key on every call, and these are recorded for
# every attempt of every I/O node. The label values are bounded (node types, outcomes,
# slot kinds), and a child is never removed from its metric.
@functools.cache
def _node_executions(node_type: str, outcome: str) -> Counter:
    return NODE_EXECUTIONS.labels(type=node_type, outcome=outcome)


@functools.cache
def _node_duration(node_type: str) -> Histogram:
    return NODE_DURATION.labels(type=node_type)


@functools.cache
def _slots_in_use(kind: str) -> Gauge:
    return WORKER_SLOTS_IN_USE.labels(kind=kind)


def record_node_execution(
    node_type: str, outcome: str, duration_seconds: float | None, *, attempt: int = 1
) -> None:
    """One execution (attempt) of a node; an ``attempt`` above 1 is also a retry.

    ``node_type`` is a registered type name (a bounded set: the node manifest).
    """
    _node_executions(node_type, _one_of(outcome, _NODE_OUTCOMES)).inc()
    if duration_seconds is not None and duration_seconds >= 0:
        _node_duration(node_type).observe(duration_seconds)
    if attempt > 1:
        NODE_RETRIES.labels(type=node_type).inc()


def record_http_request(route: str, method: str, status: int, duration_seconds: float) -> None:
    """One API request; ``route`` is the matched route's template (``/x/{id}``)."""
    method = _one_of(method.upper(), _METHODS)
    HTTP_REQUESTS.labels(route=route, method=method, status=str(status)).inc()
    HTTP_DURATION.labels(route=route).observe(duration_seconds)


@contextlib.contextmanager
def slot_in_use(kind: str) -> Iterator[None]:
    """Count a busy worker slot of ``kind`` while the block runs."""
    gauge = _slots_in_use(kind)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def render() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)


class MetricsServer:
    """``/metrics`` of a process without the API (``flov7 worker``), in a thread."""

    def __init__(self, host: str, port: int) -> None:
        server, thread = start_http_server(port, addr=host, registry=REGISTRY)
        self._server = server
        self._thread = thread
        self.port = int(server.server_address[1])

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(host: str, port: int) -> MetricsServer | None:
    """Serve ``/metrics`` on ``host:port``; None (with a warning) when the port is taken.

    A metrics port that cannot be bound must not stop a worker from running nodes.
    """
    try:
        return MetricsServer(host, port)
    except OSError as exc:
        log.warning("Cannot serve /metrics on %s:%d (%s): metrics are off", host, port, exc)
        return None
