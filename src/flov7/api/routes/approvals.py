"""``/approve/{token}`` and ``/reject/{token}``: the links an ``approval`` node sends.

Served outside ``/api/v1`` and without an API key: the signed token is the permission
(:mod:`flov7.security.approvals`). ``GET`` only shows a confirmation page (so that link
previews and mail scanners decide nothing); its form ``POST``s the decision, with an
optional comment, as the event the node waits for. A link works once: when its node
no longer waits (decided, timed out, run closed) it answers 409; a link that does not
verify, or names an unknown run or node, answers 404; an expired one 410. Within one
API process a second decision is refused even before the run has taken the first.
"""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from flov7.api.deps import ContextDep
from flov7.errors import ExecutionAlreadyClosedError, ExecutionNotFoundError
from flov7.security.approvals import ApprovalClaim

# Pages for people, not API operations: kept out of the OpenAPI schema.
router = APIRouter(tags=["approvals"], include_in_schema=False)

MAX_COMMENT_LENGTH = 2000
_RECENT_DECISIONS = 10_000
Decision = Literal["approve", "reject"]


def _page(status: int, heading: str, text: str, form: str = "") -> HTMLResponse:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(heading)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;"
        "padding:0 1rem}textarea{width:100%;min-height:6rem}button{font-size:1rem;"
        "padding:.5rem 1.5rem}</style></head><body>"
        f"<h1>{html.escape(heading)}</h1><p>{html.escape(text)}</p>{form}</body></html>"
    )
    # No caching and no referrer: the URL is the permission.
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(body, status_code=status, headers=headers)


_NOT_VALID = (404, "Link not valid", "This approval link is not valid.")


async def _check(
    request: Request, context: ContextDep, token: str, decision: Decision
) -> ApprovalClaim | HTMLResponse:
    """The claim of a usable link, or the page saying why it is not."""
    state = request.app.state
    signer = getattr(state, "approval_signer", None)
    if signer is None:
        signer = state.approval_signer = context.settings.flov7.approval_signer()
    claim = signer.verify(token)
    if claim is None or claim.decision != decision:
        return _page(*_NOT_VALID)
    if claim.expires_at < time.time():
        return _page(410, "Link expired", "This approval link has expired.")
    decided = _decisions(request).get((claim.execution_id, claim.node_id))
    if decided is not None:
        return _page(409, "Already decided", f"This request was already decided ({decided}).")
    try:
        status = await context.backend.status(claim.execution_id)
    except ExecutionNotFoundError:
        return _page(*_NOT_VALID)
    node = status.nodes.get(claim.node_id)
    if node is None:
        return _page(*_NOT_VALID)
    if node.status != "waiting" or node.waiting_for != claim.event:
        return _page(409, "Already decided", "This request is no longer waiting for a decision.")
    return claim


def _decisions(request: Request) -> dict[tuple[str, str], str]:
    """Decisions this app took: one per app, gone with it."""
    state = request.app.state
    if not hasattr(state, "approval_decisions"):
        state.approval_decisions = {}
    decisions: dict[tuple[str, str], str] = state.approval_decisions
    return decisions


def _form(decision: Decision, title: str) -> str:
    verb = "Approve" if decision == "approve" else "Reject"
    return (
        f"<p><strong>{html.escape(title)}</strong></p>"
        "<form method='post'><label for='comment'>Comment (optional)</label><br>"
        f"<textarea id='comment' name='comment' maxlength='{MAX_COMMENT_LENGTH}'></textarea>"
        f"<p><button type='submit'>{verb}</button></p></form>"
    )


async def _confirm(
    request: Request, context: ContextDep, token: str, decision: Decision
) -> HTMLResponse:
    checked = await _check(request, context, token, decision)
    if isinstance(checked, HTMLResponse):
        return checked
    heading = "Approve this request?" if decision == "approve" else "Reject this request?"
    return _page(
        200, heading, "Nothing is decided until you confirm.", _form(decision, checked.title)
    )


async def _decide(
    request: Request, context: ContextDep, token: str, decision: Decision
) -> HTMLResponse:
    checked = await _check(request, context, token, decision)
    if isinstance(checked, HTMLResponse):
        return checked
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    comment = (form.get("comment") or [""])[0].strip()[:MAX_COMMENT_LENGTH] or None
    decisions = _decisions(request)
    key = (checked.execution_id, checked.node_id)
    if key in decisions:  # decided by a request that passed the check meanwhile
        return _page(
            409, "Already decided", f"This request was already decided ({decisions[key]})."
        )
    decisions[key] = "approved" if decision == "approve" else "rejected"
    if len(decisions) > _RECENT_DECISIONS:
        del decisions[next(iter(decisions))]
    data = {
        "approved": decision == "approve",
        "comment": comment,
        "decided_at": datetime.now(UTC).isoformat(),
    }
    try:
        await context.backend.send_event(checked.execution_id, checked.event, data)
    except ExecutionAlreadyClosedError:
        return _page(409, "Already decided", "This request is no longer waiting for a decision.")
    except BaseException:
        decisions.pop(key, None)  # not delivered: the link may be used again
        raise
    done = "Approved" if decision == "approve" else "Rejected"
    return _page(200, done, "Thank you: your decision was recorded.")


@router.get("/approve/{token}", response_class=HTMLResponse, summary="Approval page")
async def approve_page(request: Request, context: ContextDep, token: str) -> HTMLResponse:
    """Confirmation page of an approve link (decides nothing)."""
    return await _confirm(request, context, token, "approve")


@router.post("/approve/{token}", response_class=HTMLResponse, summary="Approve")
async def approve(request: Request, context: ContextDep, token: str) -> HTMLResponse:
    """Approve (form field `comment` optional)."""
    return await _decide(request, context, token, "approve")


@router.get("/reject/{token}", response_class=HTMLResponse, summary="Rejection page")
async def reject_page(request: Request, context: ContextDep, token: str) -> HTMLResponse:
    """Confirmation page of a reject link (decides nothing)."""
    return await _confirm(request, context, token, "reject")


@router.post("/reject/{token}", response_class=HTMLResponse, summary="Reject")
async def reject(request: Request, context: ContextDep, token: str) -> HTMLResponse:
    """Reject (form field `comment` optional)."""
    return await _decide(request, context, token, "reject")
