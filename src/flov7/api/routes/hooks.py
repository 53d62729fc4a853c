"""Inbound webhooks: managed under ``/api/v1/workflows/{id}/hooks``, called at
``/hooks/{hook_id}`` (outside ``/api/v1``, without an API key: see
:mod:`flov7.triggers.hooks` for how a call proves it may start a run)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from flov7.api.deps import ContextDep
from flov7.api.errors import ApiError, NotFoundError, PayloadTooLargeError, error_response
from flov7.api.runs import execution_links
from flov7.api.schemas.common import WORKFLOW_ID_MAX_LENGTH, error_responses
from flov7.runs.views import RunStatus
from flov7.store.hooks import HookRecord, HookRepository
from flov7.store.repository import WorkflowNotFoundError
from flov7.triggers import hooks

router = APIRouter(prefix="/workflows", tags=["hooks"])
"""Management, inside ``/api/v1``."""
public_router = APIRouter(prefix="/hooks", tags=["hooks"])
"""The hook URLs, outside ``/api/v1``."""

WorkflowId = Annotated[str, Path(min_length=1, max_length=WORKFLOW_ID_MAX_LENGTH)]
HookId = Annotated[str, Path(min_length=1, max_length=64)]
_NO_HOOK = "No hook at this URL"
_UNSAFE_RESPONSE_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "set-cookie", "content-encoding"}
)


class RateLimitedError(ApiError):
    """429: the hook is over its rate."""

    status_code = 429
    code = "rate_limited"


def _url(context: ContextDep, hook: HookRecord, token: str | None = None) -> str:
    base = f"{context.settings.flov7.resolved_public_url}/hooks/{hook.id}"
    return f"{base}/{token}" if token else base


def _view(context: ContextDep, hook: HookRecord) -> hooks.HookView:
    return hooks.HookView(
        hook_id=hook.id,
        workflow_id=hook.workflow_id,
        version=hook.version,
        mode=hook.mode,
        auth=hook.auth,
        timeout_seconds=hook.timeout_seconds,
        rate_per_minute=hook.rate_per_minute,
        created_at=hook.created_at.isoformat(),
        url=_url(context, hook),
    )


def _signing_key(request: Request, context: ContextDep) -> bytes:
    state = request.app.state
    signer = getattr(state, "approval_signer", None)
    if signer is None:
        signer = state.approval_signer = context.settings.flov7.approval_signer()
    key: bytes = signer.key
    return key


@router.post(
    "/{workflow_id}/hooks",
    status_code=201,
    response_model=hooks.HookCreated,
    responses=error_responses(404, 503),
    summary="Create an inbound webhook",
    operation_id="create_hook",
)
async def create_hook(
    request: Request, context: ContextDep, workflow_id: WorkflowId, body: hooks.HookCreate
) -> hooks.HookCreated:
    """A URL that starts a run of the workflow. The answer holds the `secret`, shown
    this once (only its hash is kept, or nothing: hmac secrets are derived)."""
    workflow = await context.repository.get_workflow(workflow_id)  # 404 when unknown
    if body.version is not None:
        await context.repository.get_version(workflow_id, body.version)
    hook_id = hooks.new_hook_id()
    token = hooks.new_token() if body.auth == "token" else None
    record = HookRecord(
        id=hook_id,
        workflow_id=workflow.id,
        version=body.version,
        mode=body.mode,
        auth=body.auth,
        token_hash=hooks.token_hash(token) if token else None,
        timeout_seconds=body.timeout_seconds if body.mode == "sync" else None,
        rate_per_minute=body.rate_per_minute,
        created_at=datetime.now(UTC),
    )
    await HookRepository(context.repository.database).add(record)
    secret = token or hooks.hmac_secret(_signing_key(request, context), hook_id)
    view = _view(context, record)
    return hooks.HookCreated(
        **{**view.model_dump(), "url": _url(context, record, token)}, secret=secret
    )


@router.get(
    "/{workflow_id}/hooks",
    response_model=list[hooks.HookView],
    responses=error_responses(404, 503),
    summary="List a workflow's webhooks",
    operation_id="list_hooks",
)
async def list_hooks(context: ContextDep, workflow_id: WorkflowId) -> list[hooks.HookView]:
    """The workflow's hooks (never their secrets)."""
    await context.repository.get_workflow(workflow_id)
    records = await HookRepository(context.repository.database).list_for(workflow_id)
    return [_view(context, record) for record in records]


@router.delete(
    "/{workflow_id}/hooks/{hook_id}",
    status_code=204,
    responses=error_responses(404, 503),
    summary="Delete a webhook",
    operation_id="delete_hook",
)
async def delete_hook(context: ContextDep, workflow_id: WorkflowId, hook_id: HookId) -> Response:
    """Its URL answers 404 from now on; the runs it started stay."""
    if not await HookRepository(context.repository.database).delete(workflow_id, hook_id):
        raise NotFoundError(f"Workflow '{workflow_id}' has no hook '{hook_id}'")
    return Response(status_code=204)


@public_router.post("/{hook_id}", summary="Call an hmac webhook", operation_id="call_hook")
@public_router.put("/{hook_id}", summary="Call an hmac webhook", operation_id="call_hook_put")
async def call_hook(request: Request, context: ContextDep, hook_id: HookId) -> Response:
    """Start a run (hmac hooks: signed with `X-Flov7-Signature` and `X-Flov7-Timestamp`)."""
    return await _call(request, context, hook_id, None)


@public_router.post(
    "/{hook_id}/{token}", summary="Call a token webhook", operation_id="call_token_hook"
)
@public_router.put(
    "/{hook_id}/{token}", summary="Call a token webhook", operation_id="call_token_hook_put"
)
async def call_token_hook(
    request: Request,
    context: ContextDep,
    hook_id: HookId,
    token: Annotated[str, Path(max_length=200)],
) -> Response:
    """Start a run (token hooks: the URL holds the token)."""
    return await _call(request, context, hook_id, token)


async def _call(request: Request, context: ContextDep, hook_id: str, token: str | None) -> Response:
    body = await request.body()
    if len(body) > hooks.MAX_HOOK_BODY_BYTES:
        raise PayloadTooLargeError(f"A hook body is at most {hooks.MAX_HOOK_BODY_BYTES} bytes")
    hook = await HookRepository(context.repository.database).get(hook_id)
    headers = {k.lower(): v for k, v in request.headers.items()}
    allowed = hooks.verify(
        hook, token=token, headers=headers, body=body, signing_key=_signing_key(request, context)
    )
    if hook is None or not allowed:
        raise NotFoundError(_NO_HOOK)  # unknown, bad token, bad signature: all alike
    wait = _limiter(request).admit(hook.id, hook.rate_per_minute)
    if wait:
        return error_response(
            429,
            "rate_limited",
            f"This hook takes {hook.rate_per_minute} calls per minute",
            headers={"Retry-After": hooks.retry_after(wait)},
        )
    try:
        parsed = hooks.parse_body(headers.get("content-type", ""), body)
    except ValueError:
        return error_response(400, "invalid_json", "The body is not valid JSON")
    try:
        if hook.version is not None:
            document = (
                await context.repository.get_version(hook.workflow_id, hook.version)
            ).document
            version = hook.version
        else:
            workflow = await context.repository.get_workflow(hook.workflow_id)
            document, version = workflow.document, workflow.current_version
    except WorkflowNotFoundError as exc:
        raise NotFoundError(_NO_HOOK) from exc  # its workflow is gone
    assert document is not None
    query: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        query.setdefault(name, []).append(value)
    key = headers.get("idempotency-key")
    started = await context.runs.start(
        document,
        run_input=hooks.run_input(request.method, headers, query, parsed),
        execution_id=hooks.hook_execution_id(hook.id, key) if key else None,
        workflow_id=hook.workflow_id,
        version=version,
        trigger={"type": "webhook", "hook_id": hook.id},
    )
    accepted = {
        "execution_id": started.execution_id,
        "engine": started.ref.engine,
        "created": started.ref.created,
        "links": execution_links(request, started.execution_id),
    }
    if hook.mode == "sync":
        seconds = min(hook.timeout_seconds or 30, context.max_wait_seconds)
        final = await context.runs.wait(started.execution_id, seconds)
        if final is not None:
            return _answer(final)
    return JSONResponse(accepted, status_code=202)


def _limiter(request: Request) -> hooks.RateLimiter:
    state = request.app.state
    if not hasattr(state, "hook_limiter"):
        state.hook_limiter = hooks.RateLimiter()
    limiter: hooks.RateLimiter = state.hook_limiter
    return limiter


def _answer(final: RunStatus) -> Response:
    """The first ``respond`` node the run completed, else its final outputs."""
    nodes = (final.result or {}).get("node_results") or {}
    for node_id in final.execution_path:
        node = nodes.get(node_id) or {}
        if node.get("type") == "respond" and node.get("status") == "completed":
            return _respond(node.get("output") or {})
    last = final.execution_path[-1:]
    outputs = {n: nodes[n].get("output") for n in last if n in nodes}
    return JSONResponse(
        {
            "execution_id": final.execution_id,
            "status": final.status,
            "outputs": outputs,
            "error": final.error,
        }
    )


def _respond(output: dict[str, Any]) -> Response:
    status = output.get("status_code")
    status = status if isinstance(status, int) and 200 <= status <= 599 else 200
    headers = {
        str(k): str(v)
        for k, v in (output.get("headers") or {}).items()
        if str(k).lower() not in _UNSAFE_RESPONSE_HEADERS
    }
    body = output.get("body")
    if isinstance(body, str):
        media = None if any(k.lower() == "content-type" for k in headers) else "text/plain"
        return Response(body, status_code=status, headers=headers, media_type=media)
    if body is None:
        return Response(status_code=status, headers=headers)
    return Response(
        json.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )
