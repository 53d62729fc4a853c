"""``POST /api/v1/workflow/rerun/{execution_id}``: run a closed run again, keeping what
already succeeded.

The new run executes the stored workflow (the same version, or the latest) with the
original's input (or a new one); the nodes upstream of the restart point keep their
recorded outputs and are not executed again (:mod:`flov7.engine.rerun`). The new run
shows ``rerun_of``; the original lists its ``reruns``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from flov7.api.deps import ContextDep
from flov7.api.errors import BadRequestError, ConflictError
from flov7.api.runs import start_run
from flov7.api.schemas.common import error_responses
from flov7.api.schemas.executions import ExecuteAccepted, ExecutionStatus
from flov7.engine.rerun import RerunError, plan_rerun

router = APIRouter(prefix="/workflow", tags=["executions"])


class RerunRequest(BaseModel):
    """Where the rerun starts, which version it runs, and with which input."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [{"from": "failed"}, {"from": "charge", "version": "latest"}]
        },
    )

    start_from: str = Field(
        default="failed",
        alias="from",
        min_length=1,
        description="'failed' (the nodes that failed or were cancelled), 'start' (run "
        "everything again) or a node id. Nodes upstream of it keep their recorded output.",
    )
    version: Literal["same", "latest"] = Field(
        default="same",
        description="'same': the version the original ran; 'latest': the current one.",
    )
    input: dict[str, Any] | None = Field(
        default=None, description="Run input instead of the original's (default: the same)."
    )


@router.post(
    "/rerun/{execution_id}",
    status_code=202,
    response_model=None,
    responses={
        202: {"model": ExecuteAccepted, "description": "The rerun started; follow the links"},
        200: {"model": ExecutionStatus, "description": "With wait=true: the rerun closed"},
        **error_responses(400, 404, 409, 503),
    },
    summary="Rerun a run from the failed node",
    operation_id="rerun_execution",
)
async def rerun(
    request: Request,
    context: ContextDep,
    execution_id: Annotated[str, Path(min_length=1, max_length=1000)],
    body: Annotated[RerunRequest | None, Body()] = None,
    wait: Annotated[bool, Query(description="Wait for the rerun's result.")] = False,
    wait_seconds: Annotated[float, Query(alias="timeout", gt=0, allow_inf_nan=False)] = 30.0,
) -> JSONResponse:
    """Start a new run of the same stored workflow that keeps the recorded outcome of
    every node upstream of the restart point (`from`): they are not executed again, so
    no side effect repeats. 409 while the original is still open; 400 for a run of an
    inline document (nothing stored to run again) or an unknown node."""
    asked = body or RerunRequest()
    original = await context.backend.status(execution_id)
    if not original.closed:
        raise ConflictError(
            f"Execution '{execution_id}' is still {original.status}: rerun it once it has "
            "closed (or cancel it first)",
            code="execution_open",
        )
    if original.result is None:
        raise ConflictError(
            f"Execution '{execution_id}' ended {original.status} without a result document "
            "to rerun from; start it again instead",
            code="no_result",
        )
    record = await context.repository.get_execution(execution_id)
    workflow_id = record.workflow_id if record is not None else original.workflow_id
    version = record.version if record is not None else original.version
    if workflow_id is None or version is None:
        raise BadRequestError(
            f"Execution '{execution_id}' ran an inline document: only runs of stored "
            "workflows can be rerun",
            code="not_a_stored_workflow",
        )
    if asked.version == "latest":
        stored = await context.repository.get_workflow(workflow_id)
        document, version = stored.document or {}, stored.current_version
    else:
        found = await context.repository.get_version(workflow_id, version)
        document = found.document or {}
    try:
        planned = plan_rerun(
            document, original.result, asked.start_from, original_execution_id=execution_id
        )
    except RerunError as exc:
        raise BadRequestError(str(exc), code="invalid_rerun") from exc
    recorded_input = original.result.get("input")
    run_input = asked.input if asked.input is not None else recorded_input
    return await start_run(
        context,
        request,
        document=planned,
        run_input=run_input if isinstance(run_input, dict) else {},
        execution_id=None,
        version=version,
        wait=wait,
        wait_seconds=wait_seconds,
        rerun_of=execution_id,
    )
