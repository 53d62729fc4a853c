"""``/api/v1/workflows``: stored workflows, their versions, and running them."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from flov7.api.deps import ContextDep, RepositoryDep
from flov7.api.errors import BadRequestError
from flov7.api.routes.executions import Wait, WaitSeconds
from flov7.api.runs import API_PREFIX, start_run
from flov7.api.schemas.common import WORKFLOW_ID_MAX_LENGTH, WORKFLOW_ID_PATTERN, error_responses
from flov7.api.schemas.executions import ExecuteAccepted, ExecutionStatus
from flov7.api.schemas.workflows import (
    StoredExecuteRequest,
    VersionList,
    VersionOut,
    WorkflowCreate,
    WorkflowList,
    WorkflowOut,
    WorkflowUpdate,
)
from flov7.engine.validate import validate_workflow
from flov7.errors import InvalidWorkflowError
from flov7.runs.pages import decode_position, keyset_page
from flov7.store.repository import StoredWorkflow, WorkflowVersion
from flov7.triggers.schedules import follow_new_version

router = APIRouter(prefix="/workflows", tags=["workflows"])

WorkflowId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=WORKFLOW_ID_MAX_LENGTH,
        pattern=WORKFLOW_ID_PATTERN,
        examples=["orders"],
    ),
]
PageSize = Annotated[int, Query(ge=1, le=100)]
PageToken = Annotated[str | None, Query(max_length=8192)]


def _checked_document(document: dict[str, Any], workflow_id: str) -> dict[str, Any]:
    """The document as stored: its ``id`` is the workflow's, and it must validate."""
    stored = {**document, "id": workflow_id}
    report = validate_workflow(stored)
    if not report.valid:
        raise InvalidWorkflowError(
            report,
            f"The workflow document is invalid ({len(report.issues)} issue(s)); not stored",
        )
    return stored


def _out(workflow: StoredWorkflow) -> dict[str, Any]:
    return {
        "id": workflow.id,
        "name": workflow.name,
        "description": workflow.description,
        "current_version": workflow.current_version,
        "version": workflow.current_version,
        "created_at": workflow.created_at,
        "updated_at": workflow.updated_at,
        "document": workflow.document,
    }


def _version_out(version: WorkflowVersion) -> dict[str, Any]:
    return {
        "workflow_id": version.workflow_id,
        "version": version.version,
        "created_at": version.created_at,
        "document": version.document,
    }


@router.post(
    "",
    status_code=201,
    response_model=WorkflowOut,
    responses=error_responses(400, 409, 503),
    summary="Store a workflow",
    operation_id="create_workflow",
)
async def create_workflow(
    request: Request, repository: RepositoryDep, body: WorkflowCreate, response: Response
) -> dict[str, Any]:
    """Store a document as version 1 of a new workflow. The id is `id`, else the
    document's `id`; the stored document's `id` is set to it. 409 if it exists; a
    deleted workflow's id can be reused (its version numbers go on)."""
    workflow_id = body.id or body.document.get("id")
    if not isinstance(workflow_id, str) or not workflow_id:
        raise BadRequestError("Give the workflow an `id` (in the body or in the document)")
    _check_id(workflow_id)
    document = _checked_document(body.document, workflow_id)
    name = body.name if body.name is not None else str(document.get("name") or "")
    workflow = await repository.create_workflow(
        workflow_id, document, name=name, description=body.description or ""
    )
    root = request.scope.get("root_path", "")
    response.headers["Location"] = f"{root}{API_PREFIX}{router.prefix}/{workflow_id}"
    return _out(workflow)


def _check_id(workflow_id: str) -> None:
    # The body's `id` is checked by its model; a document's own id is checked here.
    if len(workflow_id) > WORKFLOW_ID_MAX_LENGTH or not re.fullmatch(
        WORKFLOW_ID_PATTERN, workflow_id
    ):
        raise BadRequestError(
            f"Invalid workflow id '{workflow_id[:50]}': use letters, digits, '.', '_' and "
            f"'-', at most {WORKFLOW_ID_MAX_LENGTH} characters, starting with a letter or digit"
        )


@router.get(
    "",
    response_model=WorkflowList,
    responses=error_responses(400, 503),
    summary="List stored workflows",
    operation_id="list_workflows",
)
async def list_workflows(
    repository: RepositoryDep, page_size: PageSize = 50, page_token: PageToken = None
) -> dict[str, Any]:
    """Stored workflows by id (without documents), a page at a time."""
    after = decode_position(page_token, "workflows")
    if after is not None and not isinstance(after, str):
        raise BadRequestError("Invalid page_token: pass back the token you were given")
    rows = await repository.list_workflows(after=after, limit=page_size + 1)
    page, token = keyset_page(rows, page_size, "workflows", lambda row: row.id)
    return {"workflows": [_out(row) for row in page], "next_page_token": token}


@router.get(
    "/{workflow_id}",
    response_model=WorkflowOut,
    responses=error_responses(404, 503),
    summary="Get a stored workflow",
    operation_id="get_workflow",
)
async def get_workflow(
    repository: RepositoryDep,
    workflow_id: WorkflowId,
    version: Annotated[int | None, Query(ge=1, description="Default: current.")] = None,
) -> dict[str, Any]:
    """The workflow and the document of its current version (or of `version`)."""
    workflow = await repository.get_workflow(workflow_id)
    out = _out(workflow)
    if version is not None and version != workflow.current_version:
        stored = await repository.get_version(workflow_id, version)
        out.update(version=stored.version, document=stored.document)
    return out


@router.put(
    "/{workflow_id}",
    response_model=WorkflowOut,
    responses=error_responses(404, 409, 503),
    summary="Update a stored workflow (new version)",
    operation_id="update_workflow",
)
async def update_workflow(
    context: ContextDep, repository: RepositoryDep, workflow_id: WorkflowId, body: WorkflowUpdate
) -> dict[str, Any]:
    """Append a new immutable version; it becomes current (schedules that run the
    `latest` version run it from now on). With `expected_version`, 409 if someone else
    updated the workflow meanwhile."""
    document = _checked_document(body.document, workflow_id)
    workflow = await repository.update_workflow(
        workflow_id,
        document,
        name=body.name,
        description=body.description,
        expected_version=body.expected_version,
    )
    await follow_new_version(context.backend, workflow_id, workflow.current_version, document)
    return _out(workflow)


@router.delete(
    "/{workflow_id}",
    status_code=204,
    responses=error_responses(404, 503),
    summary="Delete a stored workflow",
    operation_id="delete_workflow",
)
async def delete_workflow(repository: RepositoryDep, workflow_id: WorkflowId) -> Response:
    """Hide the workflow. Its versions are kept for the runs that used them; runs in
    flight go on."""
    await repository.delete_workflow(workflow_id)
    return Response(status_code=204)


@router.get(
    "/{workflow_id}/versions",
    response_model=VersionList,
    responses=error_responses(400, 404, 503),
    summary="List the versions of a stored workflow",
    operation_id="list_workflow_versions",
)
async def list_versions(
    repository: RepositoryDep,
    workflow_id: WorkflowId,
    page_size: PageSize = 50,
    page_token: PageToken = None,
) -> dict[str, Any]:
    """Versions, oldest first (without documents: get one with `GET .../versions/{n}`)."""
    after = decode_position(page_token, "versions")
    if after is not None and not isinstance(after, int):
        raise BadRequestError("Invalid page_token: pass back the token you were given")
    rows = await repository.list_versions(workflow_id, after=after, limit=page_size + 1)
    page, token = keyset_page(rows, page_size, "versions", lambda row: row.version)
    return {"versions": [_version_out(row) for row in page], "next_page_token": token}


@router.get(
    "/{workflow_id}/versions/{version}",
    response_model=VersionOut,
    responses=error_responses(404, 503),
    summary="Get one version of a stored workflow",
    operation_id="get_workflow_version",
)
async def get_version(
    repository: RepositoryDep,
    workflow_id: WorkflowId,
    version: Annotated[int, Path(ge=1)],
) -> dict[str, Any]:
    """One version with its document."""
    return _version_out(await repository.get_version(workflow_id, version))


@router.post(
    "/{workflow_id}/execute",
    status_code=202,
    response_model=None,
    responses={
        202: {"model": ExecuteAccepted, "description": "Started (or found); follow the links"},
        200: {"model": ExecutionStatus, "description": "With wait=true: the run closed in time"},
        **error_responses(404, 503),
    },
    summary="Run a stored workflow",
    operation_id="execute_stored_workflow",
)
async def execute_stored(
    request: Request,
    context: ContextDep,
    workflow_id: WorkflowId,
    body: StoredExecuteRequest | None = None,
    wait: Wait = False,
    wait_seconds: WaitSeconds = 30.0,
) -> JSONResponse:
    """Run the current version (or `version`); the run records which version it ran.
    Same answers as `POST /workflow/execute`."""
    body = body or StoredExecuteRequest()
    if body.version is not None:
        stored = await context.repository.get_version(workflow_id, body.version)
        document, version = stored.document or {}, stored.version
    else:
        workflow = await context.repository.get_workflow(workflow_id)
        document, version = workflow.document or {}, workflow.current_version
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
