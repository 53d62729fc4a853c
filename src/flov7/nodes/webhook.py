"""``webhook``: delivers a payload to a URL, signed when a secret is set (activity).

What a receiver gets, on every attempt:

- the payload as JSON (``Content-Type: application/json`` unless the node sets one);
- ``Idempotency-Key`` and ``X-Flov7-Idempotency-Key``: ``sha256(f"{execution_id}:{node_id}")``
  in hex. The same on every retry of the node (and on a retry of the whole run, which
  keeps its execution id), different for every other node or execution, so a receiver
  can drop duplicates: an attempt that timed out may still have been delivered;
- with ``secret`` set: ``X-Flov7-Timestamp: <unix seconds>`` and
  ``X-Flov7-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body bytes>">``.
  The timestamp is fresh per attempt; receivers should reject old ones (replays).

Delivery is a 2xx. 429, 5xx and connection errors retry (``Retry-After`` honoured);
other statuses fail at once. Redirects are not followed: a webhook endpoint that moved
should be updated, not chased with a signed payload.

A ``secret`` bound to hosts (``allowed_hosts``) signs only for them: a payload signed
with a receiver's secret but sent elsewhere could be replayed to that receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, ClassVar, Final, Literal

from pydantic import Field

from flov7.nodes.base import ActivityContext, NodeConfig, NodeKind, NodeType
from flov7.nodes.credentials import SecretCredential
from flov7.nodes.http import (
    build_request,
    checked_url,
    host_and_port,
    merge_headers,
    open_response,
    read_excerpt,
    status_error,
    target,
)
from flov7.nodes.outputs import closed_object
from flov7.nodes.resources import NodeResources, require_resources
from flov7.spec import Execution

__all__ = [
    "IDEMPOTENCY_HEADERS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookConfig",
    "WebhookNode",
    "idempotency_key",
    "sign_payload",
    "verify_signature",
]

SIGNATURE_HEADER: Final = "X-Flov7-Signature"
TIMESTAMP_HEADER: Final = "X-Flov7-Timestamp"
IDEMPOTENCY_HEADERS: Final = ("Idempotency-Key", "X-Flov7-Idempotency-Key")


class WebhookConfig(NodeConfig):
    """Config of a ``webhook`` node."""

    url: str = Field(min_length=1)
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    payload: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    secret: str | None = Field(
        default=None, description="Name of a credential holding the HMAC signing secret."
    )
    http_timeout_seconds: float = Field(
        default=30,
        gt=0,
        le=3600,
        description="HTTP time limit for the whole delivery. The time limit of one "
        "attempt is the node's own timeout_seconds, next to data.",
    )


class WebhookNode(NodeType):
    """Sends a webhook with an idempotency key that is stable across retries."""

    name = "webhook"
    kind = NodeKind.ACTIVITY
    execution = Execution.LOCAL  # short I/O: a local activity when its attempt is short
    config_model = WebhookConfig
    output_schema = closed_object(
        "The delivery.",
        {
            "delivered": {"type": "boolean"},
            "status_code": {"type": "integer"},
            "response_time_ms": {"type": "number"},
            "attempts": {"type": "integer"},
            "idempotency_key": {"type": "string"},
        },
    )
    description = (
        "Delivers 'payload' as JSON. Signs it (X-Flov7-Signature) when 'secret' names a "
        "credential; always sends an Idempotency-Key stable across retries. Output: "
        "delivered, status_code, response_time_ms, attempts."
    )
    example: ClassVar[dict[str, Any]] = {
        "url": "https://hooks.example.com/orders",
        "payload": {"order": "{{ input.order_id }}"},
    }

    def attempt_bound_seconds(self, config: NodeConfig) -> float | None:
        """``http_timeout_seconds`` bounds the whole exchange (redirects, body included)."""
        return config.http_timeout_seconds if isinstance(config, WebhookConfig) else None

    async def execute(self, config: NodeConfig, context: ActivityContext) -> dict[str, Any]:
        """Deliver the payload once (Temporal retries the attempt on retryable errors)."""
        assert isinstance(config, WebhookConfig)
        resources = require_resources(context, self.name)
        with resources.redacting_errors():
            return await deliver(config, context, resources)


async def deliver(
    config: WebhookConfig, context: ActivityContext, resources: NodeResources
) -> dict[str, Any]:
    """Send one attempt of a webhook and describe the delivery."""
    url = checked_url(config.url)
    body = json.dumps(config.payload, separators=(",", ":"), ensure_ascii=False).encode()
    key = idempotency_key(execution_id(context), context.node_id)
    ours = dict.fromkeys(IDEMPOTENCY_HEADERS, key)
    if config.secret is not None:
        secret = resources.credentials.get(config.secret, SecretCredential)
        resources.credentials.check_host(config.secret, secret, *host_and_port(url))
        timestamp = str(int(time.time()))
        ours[TIMESTAMP_HEADER] = timestamp
        ours[SIGNATURE_HEADER] = sign_payload(secret.value.get_secret_value(), timestamp, body)
    headers = merge_headers(config.headers, ours)
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    request = build_request(
        resources.http,
        config.method,
        url,
        headers=headers,
        timeout_seconds=config.http_timeout_seconds,
        content=body,
    )
    started = time.perf_counter()
    async with open_response(
        resources, request, timeout_seconds=config.http_timeout_seconds, follow_redirects=False
    ) as response:
        if not response.is_success:
            raise status_error(response, await read_excerpt(response), target(request))
    return {
        "delivered": True,
        "status_code": response.status_code,
        "response_time_ms": round((time.perf_counter() - started) * 1000, 1),
        "attempts": context.attempt,
        "idempotency_key": key,
    }


def execution_id(context: ActivityContext) -> str:
    """The run's execution id (the Temporal workflow id when the request has none)."""
    execution = context.extras.get("execution") or {}
    return str(execution.get("execution_id") or context.workflow_id)


def idempotency_key(execution: str, node_id: str) -> str:
    """``sha256(f"{execution}:{node_id}")`` in hex: one key per node per execution."""
    return hashlib.sha256(f"{execution}:{node_id}".encode()).hexdigest()


def sign_payload(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Flov7-Signature`` value: ``sha256=`` + hex HMAC of ``"<timestamp>.<body>"``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance_seconds: float = 300,
    now: float | None = None,
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    expected = sign_payload(secret, timestamp, body)
    return age <= tolerance_seconds and hmac.compare_digest(expected, signature)


webhook_node = WebhookNode()
