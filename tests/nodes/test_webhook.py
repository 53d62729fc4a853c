"""``webhook`` against a real receiver on 127.0.0.1 that checks signatures itself."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flov7.errors import NodeExecutionError
from flov7.nodes.base import ActivityContext
from flov7.nodes.resources import NodeResources
from flov7.nodes.settings import NodeSettings
from flov7.nodes.webhook import (
    WebhookConfig,
    idempotency_key,
    sign_payload,
    verify_signature,
    webhook_node,
)
from nodes.http_servers import TestHttpServer, WebhookDelivery, hmac_signature

MakeContext = Callable[..., ActivityContext]
MakeSettings = Callable[..., NodeSettings]


async def send(
    resources: NodeResources | None, context: ActivityContext, **config: Any
) -> dict[str, Any]:
    """Run one webhook attempt."""
    parsed = webhook_node.parse_config(config)
    assert isinstance(parsed, WebhookConfig)
    output = await webhook_node.execute(parsed, context)
    assert isinstance(output, dict)
    return output


async def send_error(
    resources: NodeResources | None, context: ActivityContext, **config: Any
) -> NodeExecutionError:
    """Run one webhook attempt that must fail; return its error."""
    with pytest.raises(NodeExecutionError) as caught:
        await send(resources, context, **config)
    return caught.value


@pytest.fixture
def receiver(http_server: TestHttpServer) -> Iterator[TestHttpServer]:
    """The shared server, with no webhook secret and its deliveries list cleared."""
    http_server.webhook_secret = None
    http_server.webhooks.clear()
    yield http_server
    http_server.webhook_secret = None


def only_delivery(server: TestHttpServer) -> WebhookDelivery:
    (delivery,) = server.webhooks
    return delivery


async def test_delivers_the_payload_as_json(
    resources: NodeResources, make_context: MakeContext, receiver: TestHttpServer
) -> None:
    payload = {"order": 42, "items": ["a", "b"], "note": "ünïcode"}
    output = await send(
        resources,
        make_context(resources, attempt=1),
        url=receiver.url_for("/webhook"),
        payload=payload,
        headers={"X-Source": "flov7-test"},
    )

    assert set(output) >= {"delivered", "status_code", "response_time_ms", "attempts"}
    assert output["delivered"] is True
    assert output["status_code"] == 202
    assert output["attempts"] == 1
    assert isinstance(output["response_time_ms"], float)
    request = only_delivery(receiver).request
    assert request.method == "POST"
    assert request.json() == payload
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-source"] == "flov7-test"
    # Unsigned without a secret.
    assert "x-flov7-signature" not in request.headers
    assert "x-flov7-timestamp" not in request.headers


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_other_methods(
    method: str, resources: NodeResources, make_context: MakeContext, receiver: TestHttpServer
) -> None:
    await send(
        resources,
        make_context(resources),
        url=receiver.url_for("/webhook"),
        method=method,
        payload=[1, 2],
    )
    assert only_delivery(receiver).request.method == method


async def test_signed_payload_verifies_at_the_receiver(
    resources: NodeResources,
    make_context: MakeContext,
    receiver: TestHttpServer,
    secrets: dict[str, str],
) -> None:
    receiver.webhook_secret = secrets["webhook"]
    output = await send(
        resources,
        make_context(resources),
        url=receiver.url_for("/webhook"),
        payload={"event": "order.paid", "amount": 12.5},
        secret="hook",
    )

    assert output["delivered"] is True
    delivery = only_delivery(receiver)
    assert delivery.signature_valid is True
    headers = delivery.request.headers
    timestamp = headers["x-flov7-timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    # Exactly the documented scheme, recomputed independently of Flov7.
    assert headers["x-flov7-signature"] == hmac_signature(
        secrets["webhook"], timestamp, delivery.request.body
    )
    assert secrets["webhook"] not in json.dumps(headers)
    assert secrets["webhook"] not in repr(output)


async def test_receiver_with_another_secret_rejects_it_non_retryably(
    resources: NodeResources,
    make_context: MakeContext,
    receiver: TestHttpServer,
    secrets: dict[str, str],
) -> None:
    receiver.webhook_secret = "not-the-same-secret"
    error = await send_error(
        resources,
        make_context(resources),
        url=receiver.url_for("/webhook"),
        payload={"x": 1},
        secret="hook",
    )
    assert only_delivery(receiver).signature_valid is False
    assert error.error_type == "HttpClientError"
    assert error.retryable is False
    assert error.message.startswith("HTTP 401 Unauthorized from POST")
    assert "bad signature" in error.message
    assert secrets["webhook"] not in error.message


def test_sign_and_verify_helpers() -> None:
    body = b'{"a":1}'
    signature = sign_payload("s3cret", "1700000000", body)
    assert signature == hmac_signature("s3cret", "1700000000", body)
    assert verify_signature("s3cret", "1700000000", body, signature, now=1700000100)
    assert not verify_signature("s3cret", "1700000000", body, signature, now=1700001000)
    assert not verify_signature("other", "1700000000", body, signature, now=1700000000)
    assert not verify_signature("s3cret", "1700000000", b'{"a":2}', signature, now=1700000000)
    assert not verify_signature("s3cret", "soon", body, signature)


# --- Idempotency key ------------------------------------------------------------------------


async def test_idempotency_key_is_stable_across_attempts(
    resources: NodeResources, make_context: MakeContext, receiver: TestHttpServer
) -> None:
    execution = f"exec-{uuid.uuid4().hex}"
    keys = []
    for attempt in (1, 2, 3):
        output = await send(
            resources,
            make_context(resources, execution_id=execution, node_id="notify", attempt=attempt),
            url=receiver.url_for("/webhook"),
            payload={"n": 1},
        )
        assert output["attempts"] == attempt
        keys.append(output["idempotency_key"])

    expected = hashlib.sha256(f"{execution}:notify".encode()).hexdigest()
    assert keys == [expected] * 3
    for delivery in receiver.webhooks:
        assert delivery.request.headers["idempotency-key"] == expected
        assert delivery.request.headers["x-flov7-idempotency-key"] == expected


async def test_idempotency_key_differs_per_node_and_execution(
    resources: NodeResources, make_context: MakeContext, receiver: TestHttpServer
) -> None:
    contexts = [
        make_context(resources, execution_id="exec-a", node_id="n1"),
        make_context(resources, execution_id="exec-a", node_id="n2"),
        make_context(resources, execution_id="exec-b", node_id="n1"),
    ]
    for context in contexts:
        await send(resources, context, url=receiver.url_for("/webhook"), payload={})
    received = [d.request.headers["idempotency-key"] for d in receiver.webhooks]
    assert len(set(received)) == 3
    assert received[0] == idempotency_key("exec-a", "n1")


async def test_configured_headers_cannot_replace_the_idempotency_key(
    resources: NodeResources, make_context: MakeContext, receiver: TestHttpServer
) -> None:
    await send(
        resources,
        make_context(resources, execution_id="exec-h", node_id="n"),
        url=receiver.url_for("/webhook"),
        payload={},
        headers={"idempotency-key": "mine", "Content-Type": "application/vnd.event+json"},
    )
    headers = only_delivery(receiver).request.headers
    assert headers["idempotency-key"] == idempotency_key("exec-h", "n")
    assert headers["content-type"] == "application/vnd.event+json"


def test_execution_id_falls_back_to_the_workflow_id(make_context: MakeContext) -> None:
    from flov7.nodes.webhook import execution_id

    context = make_context(None, execution_id="wf-run-7")
    context.extras = {}
    assert execution_id(context) == "wf-run-7"


# --- Retries and failures ---------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable(
    status: int, resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await send_error(
        resources,
        make_context(resources),
        url=http_server.url_for(f"/status/{status}"),
        payload={},
    )
    assert error.retryable is True
    assert error.error_type == "HttpServerError"


async def test_429_is_retryable_after_retry_after(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await send_error(
        resources,
        make_context(resources),
        url=http_server.url_for("/status/429?retry_after=3"),
        payload={},
    )
    assert error.retryable is True
    assert error.retry_after_seconds == 3


@pytest.mark.parametrize("status", [400, 404, 410, 422])
async def test_client_errors_fail_at_once(
    status: int, resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await send_error(
        resources,
        make_context(resources),
        url=http_server.url_for(f"/status/{status}"),
        payload={},
    )
    assert error.retryable is False
    assert error.details["status_code"] == status


async def test_redirects_are_not_followed(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await send_error(
        resources,
        make_context(resources),
        url=http_server.url_for("/status/302?location=/webhook"),
        payload={},
    )
    assert error.retryable is False
    assert error.error_type == "HttpUnexpectedStatus"
    assert error.message.startswith("HTTP 302")


async def test_flaky_receiver_is_delivered_on_a_later_attempt(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    url = http_server.url_for(f"/flaky/{uuid.uuid4().hex}?failures=2&status=503")
    for attempt in (1, 2):
        error = await send_error(resources, make_context(resources, attempt=attempt), url=url)
        assert error.retryable is True
    output = await send(resources, make_context(resources, attempt=3), url=url, payload={})
    assert output == output | {"delivered": True, "status_code": 200, "attempts": 3}


async def test_timeout_is_retryable(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await send_error(
        resources,
        make_context(resources),
        url=http_server.url_for("/slow?seconds=5"),
        payload={},
        http_timeout_seconds=0.3,
    )
    assert error.error_type == "Timeout"
    assert error.retryable is True


async def test_unknown_secret_credential(
    resources: NodeResources, make_context: MakeContext, receiver: TestHttpServer
) -> None:
    error = await send_error(
        resources,
        make_context(resources),
        url=receiver.url_for("/webhook"),
        payload={},
        secret="missing",
    )
    assert error.error_type == "CredentialError"
    assert error.retryable is False
    assert "Unknown credential 'missing'; configured: api_token" in error.message
    assert receiver.webhooks == []


async def test_secret_must_be_a_secret_credential(
    resources: NodeResources, make_context: MakeContext, receiver: TestHttpServer
) -> None:
    error = await send_error(
        resources,
        make_context(resources),
        url=receiver.url_for("/webhook"),
        payload={},
        secret="login",
    )
    assert error.error_type == "CredentialError"
    assert "is a basic credential; this needs a secret credential" in error.message


async def test_secret_is_refused_outside_its_allowed_hosts(
    make_settings: MakeSettings,
    make_context: MakeContext,
    receiver: TestHttpServer,
    secrets: dict[str, str],
) -> None:
    # A payload signed with the real receiver's secret, sent elsewhere, could be replayed
    # to the receiver: a bound secret signs only for its own hosts.
    hook = {"type": "secret", "value": secrets["webhook"], "allowed_hosts": ["hooks.example.com"]}
    async with NodeResources.open(make_settings(credentials={"orders_hook": hook})) as resources:
        error = await send_error(
            resources,
            make_context(resources),
            url=receiver.url_for("/webhook"),
            payload={"event": "order.paid"},
            secret="orders_hook",
        )
    assert error.error_type == "CredentialError"
    assert error.retryable is False
    assert error.message == (
        f"Credential 'orders_hook' may not be sent to 127.0.0.1 (port {receiver.port}): its "
        "allowed_hosts are hooks.example.com"
    )
    assert secrets["webhook"] not in error.message + repr(error.details)
    assert receiver.webhooks == []


async def test_secret_signs_for_its_allowed_hosts(
    make_settings: MakeSettings,
    make_context: MakeContext,
    receiver: TestHttpServer,
    secrets: dict[str, str],
) -> None:
    receiver.webhook_secret = secrets["webhook"]
    hook = {
        "type": "secret",
        "value": secrets["webhook"],
        "allowed_hosts": ["hooks.example.com", f"127.0.0.1:{receiver.port}"],
    }
    async with NodeResources.open(make_settings(credentials={"orders_hook": hook})) as resources:
        output = await send(
            resources,
            make_context(resources),
            url=receiver.url_for("/webhook"),
            payload={"event": "order.paid"},
            secret="orders_hook",
        )
    assert output["delivered"] is True
    assert only_delivery(receiver).signature_valid is True


async def test_missing_resources(make_context: MakeContext, receiver: TestHttpServer) -> None:
    error = await send_error(None, make_context(None), url=receiver.url_for("/webhook"), payload={})
    assert error.error_type == "WorkerMisconfigured"
    assert error.retryable is False
