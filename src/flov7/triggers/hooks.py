"""Inbound webhooks: a URL that starts a run of a stored workflow.

- ``token`` hooks: the URL holds an unguessable token (192 random bits),
  ``/hooks/{hook_id}/{token}``; only its SHA-256 is stored.
- ``hmac`` hooks: ``/hooks/{hook_id}`` with ``X-Flov7-Signature: sha256=<hex HMAC of
  "<X-Flov7-Timestamp>.<body>">`` and a timestamp within 5 minutes: the scheme the
  ``webhook`` node signs with, so one Flov7 can call another. The secret is derived from
  the service's signing key and the hook id, so nothing secret is stored.

Both are checked in constant time, and every refusal (unknown hook, bad token, bad or
stale signature) is the same 404, so a caller learns nothing. The run's input is
``{"body", "headers" (authentication headers removed), "query", "method"}``; an
``Idempotency-Key`` header makes a redelivery join the run the first delivery started.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field

from flov7.nodes.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from flov7.store.hooks import HookRecord

__all__ = [
    "AUTH_HEADERS",
    "MAX_HOOK_BODY_BYTES",
    "HookCreate",
    "HookCreated",
    "HookView",
    "RateLimiter",
    "hmac_secret",
    "hook_execution_id",
    "new_hook_id",
    "new_token",
    "parse_body",
    "run_input",
    "token_hash",
    "verify",
]

MAX_HOOK_BODY_BYTES = 256 * 1024
"""Largest body a hook accepts (413 above)."""
SIGNATURE_TOLERANCE_SECONDS = 300
AUTH_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        SIGNATURE_HEADER.lower(),
        TIMESTAMP_HEADER.lower(),
    }
)
"""Headers never copied into the run's input (they authenticate, or carry secrets)."""
_HMAC_DOMAIN = b"flov7-hook-v1."


class HookCreate(BaseModel):
    """``POST /api/v1/workflows/{id}/hooks``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"mode": "async", "auth": "token"}]},
    )

    mode: Literal["async", "sync"] = Field(
        default="async",
        description="async: answer 202 with the execution id at once; sync: wait for the "
        "run and answer with its `respond` node (or its final outputs).",
    )
    auth: Literal["token", "hmac"] = Field(
        default="token", description="token: the URL holds the secret; hmac: signed bodies."
    )
    version: int | None = Field(
        default=None, ge=1, description="Workflow version (default: the current one, per call)."
    )
    timeout_seconds: float = Field(
        default=30, gt=0, le=60, description="sync: how long to wait before answering 202."
    )
    rate_per_minute: int | None = Field(
        default=60, ge=1, le=100_000, description="Calls per minute (429 above); null: no limit."
    )


class HookView(BaseModel):
    """A hook as listings show it (never its secret)."""

    hook_id: str
    workflow_id: str
    version: int | None
    mode: str
    auth: str
    timeout_seconds: float | None
    rate_per_minute: int | None
    created_at: str
    url: str = Field(description="hmac: the URL to call; token: without its token part.")


class HookCreated(HookView):
    """The new hook, with its secret: shown this once."""

    secret: str = Field(
        description="token: the token (already in `url`); hmac: the HMAC-SHA256 key."
    )


def new_hook_id() -> str:
    """A public hook id."""
    return "hk_" + secrets.token_hex(8)


def new_token() -> str:
    """A token hook's secret: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    """What is stored of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def hmac_secret(signing_key: bytes, hook_id: str) -> str:
    """An hmac hook's secret, derived (never stored): rotate the key to change them all."""
    return hmac.new(signing_key, _HMAC_DOMAIN + hook_id.encode(), hashlib.sha256).hexdigest()


def verify(
    hook: HookRecord | None,
    *,
    token: str | None,
    headers: Mapping[str, str],
    body: bytes,
    signing_key: bytes,
    now: float | None = None,
) -> bool:
    """Whether the request may start a run of ``hook`` (None: unknown hook, refused
    after the same work, so that timing tells nothing either)."""
    if hook is None:
        hmac.compare_digest(token_hash(token or ""), "0" * 64)
        return False
    if hook.auth == "token":
        if token is None or hook.token_hash is None:
            return False
        return hmac.compare_digest(token_hash(token), hook.token_hash)
    if token is not None:
        return False  # an hmac hook has no token URL
    signature = headers.get(SIGNATURE_HEADER.lower(), "")
    timestamp = headers.get(TIMESTAMP_HEADER.lower(), "")
    return verify_signature(
        hmac_secret(signing_key, hook.id),
        timestamp,
        body,
        signature,
        tolerance_seconds=SIGNATURE_TOLERANCE_SECONDS,
        now=now,
    )


def parse_body(content_type: str, body: bytes) -> Any:
    """JSON (``application/json``, ``+json``), a form (first value per field; lists for
    repeated fields), or text. Raises :class:`ValueError` for malformed JSON."""
    kind = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if kind == "application/json" or kind.endswith("+json"):
        return json.loads(text) if text.strip() else None
    if kind == "application/x-www-form-urlencoded":
        fields = parse_qs(text, keep_blank_values=True)
        return {key: values[0] if len(values) == 1 else values for key, values in fields.items()}
    return text


def run_input(
    method: str, headers: Mapping[str, str], query: Mapping[str, list[str]], body: Any
) -> dict[str, Any]:
    """The run input of one call."""
    return {
        "body": body,
        "headers": {k.lower(): v for k, v in headers.items() if k.lower() not in AUTH_HEADERS},
        "query": {k: v[0] if len(v) == 1 else v for k, v in query.items()},
        "method": method,
    }


def hook_execution_id(hook_id: str, idempotency_key: str) -> str:
    """The execution id of the run an ``Idempotency-Key`` names (redeliveries join it)."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
    return f"{hook_id}-{digest}"


class RateLimiter:
    """Calls per minute per hook, in this process (a sliding window of one minute)."""

    def __init__(self) -> None:
        self._calls: dict[str, deque[float]] = {}

    def admit(self, hook_id: str, per_minute: int | None, now: float | None = None) -> float:
        """0 when the call may go on (and counts), else the seconds until it may."""
        if per_minute is None:
            return 0.0
        now = time.monotonic() if now is None else now
        calls = self._calls.setdefault(hook_id, deque())
        while calls and calls[0] <= now - 60:
            calls.popleft()
        if len(calls) >= per_minute:
            return max(calls[0] + 60 - now, 0.001)
        calls.append(now)
        return 0.0


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value (whole seconds, at least 1)."""
    return str(max(1, math.ceil(seconds)))
