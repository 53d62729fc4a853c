"""``webhook``: delivers a payload to a URL, signed when a secret is set (activity)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from flov7.nodes.base import NodeConfig, NodeKind, NodeType, register


class WebhookConfig(NodeConfig):
    """Config of a ``webhook`` node."""

    url: str = Field(min_length=1)
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    payload: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    secret: str | None = Field(
        default=None, description="Name of a credential holding the HMAC signing secret."
    )
    timeout_seconds: float = Field(default=30, gt=0, le=3600)


class WebhookNode(NodeType):
    """Sends a webhook with an idempotency key that is stable across retries."""

    name = "webhook"
    kind = NodeKind.ACTIVITY
    config_model = WebhookConfig
    description = (
        "Delivers 'payload' as JSON. Signs it (X-Flov7-Signature) when 'secret' names a "
        "credential; always sends an Idempotency-Key stable across retries. Output: "
        "delivered, status_code, response_time_ms, attempts."
    )
    example: ClassVar[dict[str, Any]] = {
        "url": "https://hooks.example.com/orders",
        "payload": {"order": "{{ input.order_id }}"},
    }


webhook_node = register(WebhookNode())
