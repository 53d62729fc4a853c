"""Starting a run from the API: the run service's start, plus HTTP answers and links.

Shared by ``POST /workflow/execute`` (inline or stored document) and
``POST /workflows/{id}/execute``. Validation, naming and the idempotent start are the
run service's (:class:`~flov7.runs.service.RunService`); this module records the run in
the store, waits when asked, and shapes the answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from flov7.api.deadline import Deadline
from flov7.api.deps import ApiContext
from flov7.api.schemas.common import Links
from flov7.api.schemas.executions import ExecuteAccepted, ExecutionStatus
from flov7.api.text_safety import SafeJSONResponse as JSONResponse  # lone surrogates: no 500
from flov7.runs.service import StartedCallback, StartedRun
from flov7.runs.views import FINAL_STATUSES, RunStatus
from flov7.store.database import StoreError
from flov7.store.repository import ExecutionRecord, Repository

log = logging.getLogger(__name__)

__all__ = ["API_PREFIX", "execution_links", "recorder", "start_run", "status_body"]

API_PREFIX = "/api/v1"


def execution_links(request: Request, execution_id: str) -> dict[str, str]:
    """Paths of a run's status, history, cancel and terminate endpoints."""
    base = f"{request.scope.get('root_path', '')}{API_PREFIX}/workflow"
    quoted = quote(execution_id, safe="")
    return {
        "status": f"{base}/status/{quoted}",
        "history": f"{base}/history/{quoted}",
        "cancel": f"{base}/cancel/{quoted}",
        "terminate": f"{base}/terminate/{quoted}",
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
    rerun_of: str | None = None,
) -> JSONResponse:
    """Validate and start a run; 202 with links, or 200 with its status when waited for.

    Raises :class:`~flov7.errors.InvalidWorkflowError` (422, the report in ``details``)
    when the document does not validate: nothing is started then.
    """
    # With ?wait=true every step counts against the timeout asked for (deadline.py).
    deadline = Deadline(max(0.0, min(wait_seconds, context.max_wait_seconds)) if wait else 1e9)
    started = await deadline.run(
        context.runs.start(
            document,
            run_input=run_input or None,
            execution_id=execution_id,
            version=version,
            rerun_of=rerun_of,
        ),
        "starting the run",
    )
    execution_id = started.execution_id
    record = None if started.ref.created else await _stored_record(context, execution_id)
    links = execution_links(request, execution_id)
    headers = {"Location": links["status"]}
    if wait:
        status = await deadline.run(
            context.runs.wait(execution_id, deadline.wait_budget()), "waiting for the run"
        )
        if status is not None:
            body = await deadline.run(
                status_body(context, request, status, created=started.ref.created, started=started),
                "its status",
            )
            return JSONResponse(body, status_code=200, headers=headers)
    accepted = ExecuteAccepted(
        execution_id=execution_id,
        run_id=started.ref.run_id,
        engine=started.ref.engine,
        workflow_id=record.workflow_id if record is not None else started.workflow.workflow_id,
        version=record.version if record is not None else started.workflow.version,
        created=started.ref.created,
        links=links,  # type: ignore[arg-type]
        warnings=list(started.warnings),  # type: ignore[arg-type]
    )
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202, headers=headers)


async def status_body(
    context: ApiContext,
    request: Request,
    status: RunStatus,
    *,
    created: bool | None = None,
    started: StartedRun | None = None,
) -> dict[str, Any]:
    """A run status as the API answers it: store labels filled in, links added.

    Closed statuses are cached on the run's record, so the store can answer "what did
    this run end as" without the engine. ``started``: this request started the run
    (``POST .../execute?wait=true``), so its labels are known without reading them.
    """
    execution_id = status.execution_id
    final = status.status in FINAL_STATUSES
    labels: _Labels | None = None
    reruns: list[str] | None = None
    repository = context.repository
    try:
        if started is not None and started.ref.created:
            # recorder() recorded the run a moment ago, with these labels.
            labels = _Labels(
                started.workflow.workflow_id, started.workflow.version, started.rerun_of
            )
            if final:
                await repository.set_execution_status(execution_id, status.status)
                # Only a closed run can be rerun, and this one closed a moment ago.
                reruns = []
        else:
            record = await repository.get_execution(execution_id)
            if record is not None:
                labels = _Labels(record.workflow_id, record.version, record.rerun_of)
                if final and record.status != status.status:
                    reruns = await repository.close_execution(execution_id, status.status)
        if reruns is None:
            reruns = await repository.find_reruns(execution_id)
    except (StoreError, SQLAlchemyError, OSError) as exc:
        log.warning("Store unavailable while reading run %s: %s", execution_id, exc)
    update: dict[str, Any] = {
        "created": created,
        "links": Links.model_validate(execution_links(request, execution_id)),
    }
    if labels is not None:
        update["workflow_id"] = status.workflow_id or labels.workflow_id
        if status.version is None:
            update["version"] = labels.version
        update["rerun_of"] = status.rerun_of or labels.rerun_of
    if reruns is not None:
        update["reruns"] = reruns
    # From the status's fields as they are: its nested models (nodes, result) are not
    # validated a second time (they are instances already), its own fields are.
    answer = ExecutionStatus.model_validate({**dict(status), **update})
    return answer.model_dump(mode="json")


@dataclass(frozen=True)
class _Labels:
    """What the store adds to an engine's status: the workflow and version it ran."""

    workflow_id: str | None
    version: int | None
    rerun_of: str | None


async def _stored_record(context: ApiContext, execution_id: str) -> ExecutionRecord | None:
    try:
        return await context.repository.get_execution(execution_id)
    except (StoreError, SQLAlchemyError, OSError) as exc:
        log.warning("Store unavailable while reading run %s: %s", execution_id, exc)
        return None


def recorder(repository: Repository) -> StartedCallback:
    """The run service's ``on_started`` callback of the API: record each run it starts
    (the first record of an id wins) in the store.

    A joined run is never recorded under this request's workflow and version: a reused
    execution id may come with another document. The run has started already: if the
    store cannot be written, say so in the log and go on (the engine keeps workflow id
    and version with the run too).
    """

    async def record(started: StartedRun) -> None:
        if not started.ref.created:
            return
        entry = ExecutionRecord(
            execution_id=started.execution_id,
            workflow_id=started.workflow.workflow_id,
            version=started.workflow.version,
            engine=started.ref.engine,
            created_at=datetime.now(UTC),
            run_id=started.ref.run_id,
            trigger=started.workflow.trigger,
            rerun_of=started.rerun_of,
        )
        try:
            kept = await repository.record_execution(entry)
            if started.rerun_of is not None and kept.rerun_of != started.rerun_of:
                # The engine recorded the run first (the local backend does): add the link.
                await repository.set_rerun_of(started.execution_id, started.rerun_of)
        except (StoreError, SQLAlchemyError, OSError) as exc:
            log.error("Run %s started but could not be recorded: %s", started.execution_id, exc)

    return record
