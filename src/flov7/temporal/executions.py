"""Starting runs and following them, shared by the CLI and the REST API."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    TimeoutError,
    WorkflowAlreadyStartedError,
)
from temporalio.service import RPCError, RPCStatusCode

from flov7.config import TemporalSettings
from flov7.errors import RunEndedError, RunInputTooLargeError
from flov7.observability import correlation
from flov7.temporal.names import (
    CANCEL_SIGNAL,
    EXECUTION_WORKFLOW,
    FAILED_ERROR_TYPE,
    RESULT_QUERY,
    STATUS_QUERY,
)
from flov7.temporal.search_attributes import start_attributes

StatusCallback = Callable[[dict[str, Any]], None]


def prepare_document(
    document: dict[str, Any],
    settings: TemporalSettings,
    *,
    run_input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The workflow input: the document, the run input merged in, defaults stamped.

    The ``TEMPORAL_*`` timeouts and retries travel inside the input because workflow
    code must not read the environment (see :class:`flov7.spec.ExecutionDefaults`).
    """
    prepared = copy.deepcopy(document)
    if run_input:
        prepared["input"] = {**(prepared.get("input") or {}), **run_input}
    if "defaults" not in prepared:
        prepared["defaults"] = settings.execution_defaults().model_dump(mode="json")
    return prepared


def new_execution_id(workflow_id: str) -> str:
    """A fresh execution id: the workflow id plus a random suffix."""
    return f"{workflow_id}-{uuid.uuid4().hex[:12]}"


async def start_execution(
    client: Client,
    document: dict[str, Any],
    settings: TemporalSettings,
    *,
    run_input: dict[str, Any] | None = None,
    execution_id: str | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start ``WorkflowExecution`` with the settings' timeout and retry policy."""
    prepared = prepare_document(document, settings, run_input=run_input)
    workflow_id = str(prepared.get("id") or "workflow")
    with _input_size_checked(prepared):
        return await client.start_workflow(
            EXECUTION_WORKFLOW,
            prepared,
            id=execution_id or new_execution_id(workflow_id),
            task_queue=settings.task_queue,
            execution_timeout=settings.workflow_timeout,
            retry_policy=settings.workflow_retry_policy(),
        )


@contextlib.contextmanager
def _input_size_checked(prepared: dict[str, Any]) -> Iterator[None]:
    """Temporal's "Blob data size exceeds limit" (the workflow input over 2 MB, without a
    payload store to take it) as an error that says what was too large and what to do."""
    try:
        yield
    except RPCError as exc:
        if exc.status != RPCStatusCode.INVALID_ARGUMENT or "size exceeds" not in exc.message:
            raise
        size = len(json.dumps(prepared, default=str)) / 1_000_000
        raise RunInputTooLargeError(
            f"The workflow document with its input is {size:.1f} MB as JSON, and Temporal "
            "takes at most 2 MB as a run's input; nothing was started. Turn the payload "
            "store on (FLOV7_PAYLOAD_STORE_DIR: a directory every worker shares), or split "
            "the workflow into stored workflows called by `workflow` nodes."
        ) from exc


MEMO_KEY = "flov7"
"""Memo entry of a run started by :func:`start_execution_once`: workflow id and version."""


@dataclass(frozen=True)
class StartedExecution:
    """What :func:`start_execution_once` did."""

    handle: WorkflowHandle[Any, Any]
    created: bool
    """False when the execution id already named a run, which is returned instead."""


async def start_execution_once(
    client: Client,
    document: dict[str, Any],
    settings: TemporalSettings,
    *,
    execution_id: str,
    run_input: dict[str, Any] | None = None,
    workflow_id: str | None = None,
    version: int | None = None,
    search_attributes: bool = False,
    fingerprint: str | None = None,
    trigger: dict[str, Any] | None = None,
) -> StartedExecution:
    """Start ``WorkflowExecution`` unless ``execution_id`` already names a run.

    Idempotent: a retried request (a client that timed out, a double click) never starts
    a second run. A running run with that id is joined (``USE_EXISTING``); a closed one
    is not replaced (``REJECT_DUPLICATE``) and is returned as it is.

    ``workflow_id`` / ``version`` label the run (memo, and search attributes when
    ``search_attributes`` is true: only pass true when the cluster has them registered,
    see :mod:`flov7.temporal.search_attributes`). The same flag goes to the workflow in
    ``defaults.search_attributes``, overriding the document: it decides whether the
    workflow upserts ``Flov7Status``, and only the starter knows the cluster.

    ``fingerprint`` (of document and input, see
    :func:`flov7.runs.contract.run_fingerprint`) is kept in the memo, so that a later
    start with the same id can tell a retried request from a conflict.
    """
    prepared = prepare_document(document, settings, run_input=run_input)
    defaults = prepared.get("defaults")
    prepared["defaults"] = {
        **(defaults if isinstance(defaults, dict) else {}),
        "search_attributes": search_attributes,
    }
    label = workflow_id or str(prepared.get("id") or "workflow")
    try:
        with _input_size_checked(prepared):
            handle = await client.start_workflow(
                EXECUTION_WORKFLOW,
                prepared,
                id=execution_id,
                task_queue=settings.task_queue,
                execution_timeout=settings.workflow_timeout,
                retry_policy=settings.workflow_retry_policy(),
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                memo={
                    MEMO_KEY: {
                        **memo_labels(prepared, label, version),
                        **_correlation_entry(),
                        "fingerprint": fingerprint,
                        **({"trigger": trigger} if trigger else {}),
                    }
                },
                search_attributes=start_attributes(label, version) if search_attributes else None,
            )
    except WorkflowAlreadyStartedError as exc:
        # REJECT_DUPLICATE: the id belongs to a closed run. That run is the answer.
        existing = client.get_workflow_handle(execution_id, run_id=exc.run_id)
        return StartedExecution(handle=existing, created=False)
    return StartedExecution(handle=handle, created=_was_started(handle))


def memo_labels(document: dict[str, Any], label: str, version: int | None) -> dict[str, Any]:
    """The memo's labels of a run: workflow id and version, and ``rerun_of`` for a rerun
    (read from the document's rerun plan, so listings show it without the store)."""
    labels: dict[str, Any] = {"workflow_id": label, "version": version}
    plan = document.get("rerun")
    if isinstance(plan, dict) and isinstance(plan.get("of"), str):
        labels["rerun_of"] = plan["of"]
    return labels


def _correlation_entry() -> dict[str, Any]:
    """The caller's request id and start path (:mod:`flov7.observability.correlation`),
    which the workflow logs with every line and labels its metrics with."""
    entry: dict[str, Any] = {}
    request_id = correlation.request_id()
    if request_id is not None:
        entry["request_id"] = request_id
    label = correlation.trigger()
    if label is not None:
        entry["trigger_label"] = label
    return entry


def _was_started(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the start call created the run (false when USE_EXISTING joined one).

    The server says so in the start response's ``started`` field, which the SDK keeps on
    the handle without a public accessor; default to true if that ever changes.
    """
    response = getattr(handle, "_start_workflow_response", None)
    started = getattr(response, "started", None)
    return started if isinstance(started, bool) else True


async def query_status(handle: WorkflowHandle[Any, Any]) -> dict[str, Any] | None:
    """The ``get_status`` answer, or None while no worker has picked the run up."""
    try:
        status = await handle.query(STATUS_QUERY)
    except RPCError:
        return None
    return status if isinstance(status, dict) else None


async def follow_execution(
    handle: WorkflowHandle[Any, Any],
    *,
    on_status: StatusCallback | None = None,
    poll_seconds: float = 0.3,
) -> dict[str, Any]:
    """Wait for the result, reporting status snapshots to ``on_status`` meanwhile.

    Returns the result document, also of a run that failed (from the failure's details)
    or was cancelled (from the ``get_result`` query). A run Temporal itself ended
    (timeout, terminate, invalid document) raises :class:`RunEndedError` saying why.
    """
    result_task = asyncio.ensure_future(handle.result())
    try:
        while not result_task.done():
            if on_status is not None:
                status = await query_status(handle)
                if status is not None and not result_task.done():
                    on_status(status)
            await asyncio.wait([result_task], timeout=poll_seconds)
        result = result_task.result()
    except WorkflowFailureError as exc:
        document = await result_of_closed_run(handle, exc)
        if document is None:
            raise RunEndedError(describe_failure(exc)) from exc
        result = document
    finally:
        if not result_task.done():
            result_task.cancel()
    if on_status is not None:
        on_status(
            {
                "status": result.get("status"),
                "nodes": _nodes_of(result),
                "execution_path": result.get("execution_path"),
            }
        )
    return dict(result)


async def cancel_execution(handle: WorkflowHandle[Any, Any], reason: str | None = None) -> None:
    """Send the ``cancel_workflow`` signal."""
    await handle.signal(CANCEL_SIGNAL, reason)


def result_from_failure(exc: BaseException) -> dict[str, Any] | None:
    """The result document a failed run carries, or None (a failure of another kind).

    A Flov7 run that fails ends Failed in Temporal with ``ApplicationError(type=
    "WorkflowFailed")`` whose ``details[0]`` is the whole result document. Accepts the
    :class:`WorkflowFailureError` of ``handle.result()`` or its ``cause``. A Canceled
    run carries no document here (Temporal keeps no cancellation details): see
    :func:`result_of_closed_run`.
    """
    cause = exc.cause if isinstance(exc, WorkflowFailureError) else exc
    if not isinstance(cause, ApplicationError | CancelledError):
        return None
    if isinstance(cause, ApplicationError) and cause.type != FAILED_ERROR_TYPE:
        return None
    details = cause.details
    if details and isinstance(details[0], dict) and "node_results" in details[0]:
        return dict(details[0])
    return None


async def result_of_closed_run(
    handle: WorkflowHandle[Any, Any],
    exc: WorkflowFailureError,
    *,
    query_timeout: float = 10.0,
) -> dict[str, Any] | None:
    """The result document of a run whose ``handle.result()`` raised ``exc``, or None.

    Failed: from the failure (:func:`result_from_failure`). Canceled: from the
    ``get_result`` query, which needs a worker on the run's task queue to replay it.
    None for a run without one (timed out, terminated, invalid document).
    """
    document = result_from_failure(exc)
    if document is not None or not isinstance(exc.cause, CancelledError):
        return document
    try:
        answer = await handle.query(RESULT_QUERY, rpc_timeout=timedelta(seconds=query_timeout))
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
        return None
    return dict(answer) if isinstance(answer, dict) else None


def describe_failure(exc: WorkflowFailureError) -> str:
    """A message a user can act on, from a workflow failure."""
    cause = exc.cause
    if isinstance(cause, TimeoutError):
        return (
            "The run timed out (workflow execution timeout). "
            "Increase TEMPORAL_WORKFLOW_TIMEOUT_MINUTES if it needs longer."
        )
    if isinstance(cause, ApplicationError):
        return cause.message
    return f"The run ended without a result: {cause or exc}"


def _nodes_of(result: dict[str, Any]) -> dict[str, Any]:
    return {
        node_id: {k: v for k, v in node.items() if k != "output"}
        for node_id, node in (result.get("node_results") or {}).items()
    }
