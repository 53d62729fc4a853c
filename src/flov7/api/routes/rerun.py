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
from flov7.runs.rerun import RerunRefused, prepare_rerun

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
    try:
        prepared = await prepare_rerun(
            context.backend,
            context.repository,
            execution_id,
            start_from=asked.start_from,
            version=asked.version,
            run_input=asked.input,
        )
    except RerunRefused as exc:
        if exc.reason in ("open", "no_result"):
            code = "execution_open" if exc.reason == "open" else exc.reason
            raise ConflictError(str(exc), code=code) from exc
        raise BadRequestError(str(exc), code=exc.reason) from exc
    return await start_run(
        context,
        request,
        document=prepared.document,
        run_input=prepared.run_input,
        execution_id=None,
        version=prepared.version,
        wait=wait,
        wait_seconds=wait_seconds,
        rerun_of=prepared.rerun_of,
    )
