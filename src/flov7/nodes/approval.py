"""``approval``: waits for a person to approve or reject, through signed links.

When the node starts, an activity mints two signed, expiring links,
``<FLOV7_PUBLIC_URL>/approve/{token}`` and ``/reject/{token}``
(:mod:`flov7.security.approvals`), and the node's ``request`` edges carry them at once
(``{"approve_url", "reject_url", "expires_at", "title"}``) to the nodes that send them
(a ``webhook``, an ``ai_agent`` writing an e-mail...), while the node itself waits for
the decision. Each link shows a confirmation page (with an optional comment) before it
decides; the first decision counts. The node then outputs ``{"approved", "comment",
"decided_at"}`` along its other edges; past ``timeout_seconds`` (the links' lifetime)
it fails with ``WaitTimedOut``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field

from flov7.engine.events import MAX_WAIT_SECONDS
from flov7.errors import NodeExecutionError
from flov7.nodes.base import REQUEST_HANDLE, ActivityContext, NodeConfig, NodeKind, NodeType
from flov7.nodes.resources import require_resources
from flov7.security.approvals import approval_event

__all__ = ["REQUEST_HANDLE", "ApprovalConfig", "ApprovalNode", "approval_node"]


class ApprovalConfig(NodeConfig):
    """Config of an ``approval`` node."""

    title: str = Field(
        default="Approval requested",
        max_length=500,
        description="What is to be decided: shown on the confirmation page (templates allowed).",
        examples=["Ship order {{ input.order_id }} ({{ input.amount }} EUR)?"],
    )
    timeout_seconds: float = Field(
        default=MAX_WAIT_SECONDS,
        gt=0,
        le=MAX_WAIT_SECONDS,
        description="How long the links are valid and the node waits (at most 7 days); "
        "then it fails with WaitTimedOut.",
        examples=[86400],
    )


class ApprovalNode(NodeType):
    """A wait for a person's decision, asked through two signed links."""

    name = "approval"
    kind = NodeKind.EVENT
    prepares = True
    config_model = ApprovalConfig
    description = (
        "Waits for a person: sends signed, single-use, expiring approve/reject links "
        "along its 'request' edges, then outputs {approved, comment, decided_at}; fails "
        "with WaitTimedOut after timeout_seconds."
    )
    example: ClassVar[dict[str, Any]] = {"title": "Ship the order?", "timeout_seconds": 86400}

    async def execute(self, config: NodeConfig, context: ActivityContext) -> Any:
        """Mint the links (on the worker: the signing key never enters workflow code)."""
        assert isinstance(config, ApprovalConfig)
        resources = require_resources(context, self.name)
        if resources.approvals is None:
            raise NodeExecutionError(
                "This worker has no approval signing key (start it with node_resources())",
                error_type="WorkerMisconfigured",
                retryable=False,
            )
        signer = resources.approvals()
        expires_at = int(time.time() + config.timeout_seconds)
        links = signer.links(context.workflow_id, context.node_id, expires_at, config.title)
        return {
            **links,
            "expires_at": datetime.fromtimestamp(expires_at, UTC).isoformat(),
            "title": config.title,
        }

    def event_wait(self, config: NodeConfig, node_id: str) -> tuple[str, float | None]:
        assert isinstance(config, ApprovalConfig)
        return approval_event(node_id), config.timeout_seconds

    def event_output(self, config: NodeConfig, data: Any, received_at: str) -> Any:
        decision = data if isinstance(data, dict) else {}
        comment = decision.get("comment")
        decided_at = decision.get("decided_at")
        return {
            "approved": decision.get("approved") is True,
            "comment": comment if isinstance(comment, str) and comment else None,
            "decided_at": decided_at if isinstance(decided_at, str) else received_at,
        }


approval_node = ApprovalNode()
