"""Starting a run from the API: validate, start (idempotently), record, answer.

Shared by ``POST /workflow/execute`` (inline or stored document) and
``POST /workflows/{id}/execute``.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from flov7.api.backend import FINAL_STATUSES, ExecutionRef, WorkflowRef
from flov7.api.deadline import Deadline
from flov7.api.deps import ApiContext
from flov7.api.errors import InvalidWorkflowError
from flov7.api.schemas.executions import ExecuteAccepted, ExecutionStatus
from flov7.api.text_safety import SafeJSONResponse as JSONResponse  # lone surrogates: no 500
from flov7.engine.validate import validate_workflow
from flov7.store.database import StoreError
from flov7.store.repository import ExecutionRecord

log = logging.getLogger(__name__)

__all__ = ["API_PREFIX", "execution_links", "new_execution_id", "start_run", "status_body"]

API_PREFIX = "/api/v1"
_UNSAFE_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9._:@-]+")


def new_execution_id(workflow_id: str) -> str:
    """A fresh execution id: the workflow id (made URL-safe) plus a random suffix."""
    stem = _UNSAFE_ID_CHARACTERS.sub("-", workflow_id).strip("-._:@")[:100] or "run"
    return f"{stem}-{uuid.uuid4().hex[:12]}"


def execution_links(request: Request, execution_id: str) -> dict[str, str]:
    """Paths of a run's status, history and cancel endpoints."""
    base = f"{request.scope.get('root_path', '')}{API_PREFIX}/workflow"
    quoted = quote(execution_id, safe="")
    return {
        "status": f"{base}/status/{quoted}",
        "history": f"{base}/history/{quoted}",
        "cancel": f"{base}/cancel/{quoted}",
    }


async def start_run(
    context: ApiContext,
    request: Request,
    *,
    document: dict[str, Any],
    run_input: dict[str, Any],
    execution_id: str | None,
    version: int | None = None,
    wait: bool = False,
    wait_seconds: float = 30.0,
) -> JSONResponse:
    """Validate and start a run; 202 with links, or 200 with its status when waited for.

    Raises :class:`~flov7.api.errors.InvalidWorkflowError` (422, the report in
    ``details``) when the document does not validate: nothing is started then.
    """
    report = validate_workflow(document)
    if not report.valid or report.spec is None:
        raise InvalidWorkflowError(
            f"The workflow document is invalid ({len(report.issues)} issue(s)); "
            "nothing was started",
            details=report.as_dict(),
        )
    ref = WorkflowRef(workflow_id=report.spec.id, version=version)
    execution_id = execution_id or new_execution_id(ref.workflow_id)
    # With ?wait=true every step counts against the timeout asked for (deadline.py).
    deadline = Deadline(max(0.0, min(wait_seconds, context.max_wait_seconds)) if wait else 1e9)
    started = await deadline.run(
        context.backend.start(document, run_input or None, execution_id, ref), "starting the run"
    )
    record = await _record(context, started, ref)
    links = execution_links(request, execution_id)
    headers = {"Location": links["status"]}
    if wait:
        status = await deadline.run(
            context.backend.wait(execution_id, deadline.wait_budget()), "waiting for the run"
        )
        if status is not None:
            body = await deadline.run(
                status_body(context, request, status, created=started.created), "its status"
            )
            return JSONResponse(body, status_code=200, headers=headers)
    accepted = ExecuteAccepted(
        execution_id=execution_id,
        run_id=started.run_id,
        engine=started.engine,
        workflow_id=record.workflow_id,
        version=record.version,
        created=started.created,
        links=links,  # type: ignore[arg-type]
    )
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202, headers=headers)


async def status_body(
    context: ApiContext,
    request: Request,
    status: dict[str, Any],
    *,
    created: bool | None = None,
) -> dict[str, Any]:
    """A backend status as the API answers it: store labels filled in, links added.

    Closed statuses are cached on the run's record, so the store can answer "what did
    this run end as" without the engine.
    """
    execution_id = str(status["execution_id"])
    record = None
    try:
        record = await context.repository.get_execution(execution_id)
        final = status.get("status") in FINAL_STATUSES
        if record is not None and final and record.status != status["status"]:
            await context.repository.set_execution_status(execution_id, status["status"])
    except (StoreError, SQLAlchemyError, OSError) as exc:
        log.warning("Store unavailable while reading run %s: %s", execution_id, exc)
    merged = dict(status)
    if record is not None:
        merged["workflow_id"] = merged.get("workflow_id") or record.workflow_id
        if merged.get("version") is None:
            merged["version"] = record.version
    merged["created"] = created
    merged["links"] = execution_links(request, execution_id)
    return ExecutionStatus.model_validate(merged).model_dump(mode="json")


async def _record(context: ApiContext, started: ExecutionRef, ref: WorkflowRef) -> ExecutionRecord:
    """Record a run this request started (the first record of an id wins), or read the
    record of the existing run it found.

    A found run is never recorded under this request's workflow and version: a reused
    execution id may well come with another document. The run has started already: if
    the store cannot be written, say so in the log and go on (the engine keeps workflow
    id and version with the run too).
    """
    record = ExecutionRecord(
        execution_id=started.execution_id,
        workflow_id=ref.workflow_id,
        version=ref.version,
        engine=started.engine,
        created_at=datetime.now(UTC),
        run_id=started.run_id,
    )
    try:
        if not started.created:
            return await context.repository.get_execution(started.execution_id) or record
        return await context.repository.record_execution(record)
    except (StoreError, SQLAlchemyError, OSError) as exc:
        log.error("Run %s started but could not be recorded: %s", started.execution_id, exc)
        return record
