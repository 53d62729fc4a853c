"""``/api/v1/workflow/...``: execute, status, history, cancel, terminate, validate, list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse

from flov7.api.deps import ApiContext, BackendDep, ContextDep
from flov7.api.runs import execution_links, start_run, status_body
from flov7.api.schemas.common import error_responses
from flov7.api.schemas.executions import (
    CancelAccepted,
    CancelRequest,
    ExecuteAccepted,
    ExecuteRequest,
    ExecutionList,
    ExecutionStatus,
    History,
    TerminateAccepted,
    ValidateRequest,
    ValidationReport,
)
from flov7.engine.validate import validate_workflow
from flov7.runs.contract import ExecutionFilters
from flov7.runs.views import HistoryPage, RunPage, RunStatusName

router = APIRouter(prefix="/workflow", tags=["executions"])

ExecutionId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=1000,
        description="The run's execution id (its Temporal workflow id).",
        examples=["orders-1b2c3d4e5f60"],
    ),
]
Wait = Annotated[
    bool, Query(description="Wait for the result (up to `timeout` seconds) before answering.")
]
WaitSeconds = Annotated[
    float,
    Query(
        alias="timeout",
        gt=0,
        allow_inf_nan=False,
        description="With `wait=true`: seconds to wait, capped at 60. On timeout the "
        "answer is 202 with the links, as without `wait`.",
    ),
]

_EXECUTE_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": ExecuteAccepted, "description": "Started (or found); follow the links"},
    200: {"model": ExecutionStatus, "description": "With wait=true: the run closed in time"},
    **error_responses(404, 409, 503),
}


@router.post(
    "/execute",
    status_code=202,
    response_model=None,
    responses=_EXECUTE_RESPONSES,
    summary="Run a workflow",
    operation_id="execute_workflow",
)
async def execute(
    request: Request,
    context: ContextDep,
    body: ExecuteRequest,
    wait: Wait = False,
    wait_seconds: WaitSeconds = 30.0,
) -> JSONResponse:
    """Start a run of an inline document (`workflow_data`) or of a stored workflow
    (`workflow_id`, optionally `version`). Answers 202 at once with the links; with
    `?wait=true` waits for the result (200) up to `timeout` seconds.

    Repeating an `execution_id` never starts a second run: the existing run is
    returned with `created: false` when the document and input are the same, and the
    answer is 409 `execution_conflict` when they differ. An invalid document is a 422
    with the validation report in `error.details`, and nothing starts.
    """
    if body.workflow_id is not None:
        if body.version is not None:
            stored = await context.repository.get_version(body.workflow_id, body.version)
            document, version = stored.document or {}, stored.version
        else:
            workflow = await context.repository.get_workflow(body.workflow_id)
            document, version = workflow.document or {}, workflow.current_version
    else:
        document, version = body.workflow_data or {}, None
    return await start_run(
        context,
        request,
        document=document,
        run_input=body.input,
        execution_id=body.execution_id,
        version=version,
        wait=wait,
        wait_seconds=wait_seconds,
    )


# The integration guide's spelling, with a trailing slash: a redirect would turn a POST
# into a second request most clients do not make.
router.add_api_route(
    "/execute/",
    execute,
    methods=["POST"],
    status_code=202,
    response_model=None,
    responses=_EXECUTE_RESPONSES,
    include_in_schema=False,
)


@router.get(
    "/status/{execution_id}",
    response_model=ExecutionStatus,
    responses=error_responses(404, 503),
    summary="Status of a run",
    operation_id="execution_status",
)
async def execution_status(
    request: Request, context: ContextDep, execution_id: ExecutionId
) -> dict[str, Any]:
    """The run's status and each node's status and timing: from the workflow's
    `get_status` query while it runs, from its result once closed (with the result
    document, or the error)."""
    answer = await context.backend.status(execution_id)
    return await status_body(context, request, answer)


@router.get(
    "/history/{execution_id}",
    response_model=History,
    responses=error_responses(400, 404, 503),
    summary="History of a run",
    operation_id="execution_history",
)
async def history(
    backend: BackendDep,
    execution_id: ExecutionId,
    raw: Annotated[
        bool,
        Query(
            description="The engine's own events instead of the timeline: Temporal's "
            "history events (JSON), or the local runtime's recorded events."
        ),
    ] = False,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: Annotated[
        str | None, Query(max_length=8192, description="`next_page_token` of the last page.")
    ] = None,
) -> HistoryPage:
    """The run's real event history as a per-node timeline: scheduled, started,
    attempt failed (with the cause), completed, timer fired, cancelled... Nodes
    evaluated inside workflow code (condition, transform) have no Temporal event;
    their entries come from the node results (`source: workflow`), so every node shows.
    """
    return await backend.history(execution_id, page_token, page_size, raw)


@router.post(
    "/cancel/{execution_id}",
    status_code=202,
    response_model=CancelAccepted,
    responses=error_responses(404, 409, 503),
    summary="Cancel a run",
    operation_id="cancel_execution",
)
async def cancel(
    request: Request,
    context: ContextDep,
    execution_id: ExecutionId,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Send the `cancel_workflow` signal: nothing new starts, nodes in flight are
    cancelled, and the run ends `cancelled`. 404 for an unknown id, 409 when the run
    is closed already."""
    await context.runs.stop(execution_id, body.reason if body else None)
    return _stopped(request, context, execution_id, "cancelling")


@router.post(
    "/terminate/{execution_id}",
    status_code=202,
    response_model=TerminateAccepted,
    responses=error_responses(404, 409, 503),
    summary="Terminate a run",
    operation_id="terminate_execution",
)
async def terminate(
    request: Request,
    context: ContextDep,
    execution_id: ExecutionId,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> dict[str, Any]:
    """End the run at once, without waiting for what it runs: for a run that does not
    stop when cancelled (a node that ignores cancellation, a workflow task that keeps
    failing). On Temporal this is Temporal's terminate: nodes in flight are not
    cancelled, so a call in progress may still complete on its server. The run ends
    `terminated`. 404 for an unknown id, 409 when the run is closed already."""
    await context.runs.stop(execution_id, body.reason if body else None, terminate=True)
    return _stopped(request, context, execution_id, "terminated")


def _stopped(
    request: Request, context: ApiContext, execution_id: str, status: str
) -> dict[str, Any]:
    """The answer of cancel and terminate: what was asked of which run, and its links."""
    return {
        "execution_id": execution_id,
        "engine": context.runs.engine,
        "status": status,
        "links": execution_links(request, execution_id),
    }


@router.post(
    "/validate",
    response_model=ValidationReport,
    responses=error_responses(),
    summary="Validate a workflow document",
    operation_id="validate_workflow",
)
async def validate(body: ValidateRequest) -> dict[str, Any]:
    """The validation report (`valid`, `issues`, `warnings`), each issue naming its
    node, edge and field. Nothing is started."""
    return validate_workflow(body.workflow_data).as_dict()


@router.get(
    "/executions",
    response_model=ExecutionList,
    responses=error_responses(400, 503),
    summary="List runs",
    operation_id="list_executions",
)
async def list_executions(
    backend: BackendDep,
    workflow_id: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Runs of this workflow id."),
    ] = None,
    status: Annotated[
        RunStatusName | None,
        Query(
            description="Flov7 run status (`running` includes `pending`; `interrupted` "
            "only happens on the local engine)."
        ),
    ] = None,
    schedule_id: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Runs this schedule started."),
    ] = None,
    started_after: Annotated[datetime | None, Query(description="ISO 8601.")] = None,
    started_before: Annotated[datetime | None, Query(description="ISO 8601.")] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    page_token: Annotated[str | None, Query(max_length=8192)] = None,
) -> RunPage:
    """Runs, newest first by start time: from Temporal visibility (it lags about a
    second behind), or from the store on the local runtime."""
    filters = ExecutionFilters(
        workflow_id=workflow_id,
        status=status,
        started_after=started_after,
        started_before=started_before,
        schedule_id=schedule_id,
    )
    return await backend.list(filters, page_token, page_size)
