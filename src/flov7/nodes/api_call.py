"""``api_call``: an HTTP request (activity).

The request goes through the worker's shared, SSRF-guarded client
(:attr:`NodeResources.http <flov7.nodes.resources.NodeResources.http>`), built and sent
with :mod:`flov7.nodes.http`. Failures follow that module's one rule, shared with
``webhook`` and ``ai_agent``: what a retry can fix is retryable (connection errors, timeouts,
429, 5xx; ``Retry-After`` is honoured up to :data:`MAX_RETRY_AFTER_SECONDS`), the rest
fails at once (other 4xx, refused destinations, bad configuration, oversized responses).

A credential bound to hosts (``allowed_hosts``) is checked against the URL before
anything is sent, and its headers are dropped on any redirect hop that leaves the
original origin or goes to a host outside its ``allowed_hosts``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, Literal, cast

import httpx
from pydantic import Field

from flov7.nodes.base import ActivityContext, NodeConfig, NodeKind, NodeType
from flov7.nodes.credentials import (
    BasicCredential,
    BearerCredential,
    CredentialStore,
    HeaderCredential,
    HostBoundCredential,
    SecretCredential,
)
from flov7.nodes.http import (
    build_request,
    checked_url,
    decode_body,
    host_and_port,
    invalid_error,
    merge_headers,
    open_response,
    query_params,
    read_body,
    read_excerpt,
    scalar_text,
    status_error,
    target,
)
from flov7.nodes.outputs import closed_object
from flov7.nodes.resources import NodeResources, require_resources
from flov7.spec import Execution

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]

DEFAULT_API_KEY_HEADER: Final = "X-API-Key"


class AuthConfig(NodeConfig):
    """Authentication taken from a named credential (never a literal secret)."""

    type: Literal["bearer", "basic", "header"]
    credential: str = Field(min_length=1, description="Name of a configured credential.")
    header_name: str | None = Field(
        default=None,
        description="Header to set for type 'header' (default: the credential's header, "
        "else X-API-Key).",
    )


class ApiCallConfig(NodeConfig):
    """Config of an ``api_call`` node. Every string may hold ``{{ }}`` templates."""

    url: str = Field(min_length=1, examples=["https://api.example.com/orders/{{ input.id }}"])
    method: HttpMethod = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(
        default_factory=dict,
        description="Query parameters added to the URL's own (replacing same-named ones); "
        "a list repeats the key, null omits it.",
    )
    body: Any = Field(default=None, description="JSON value, or text when body_type is raw.")
    body_type: Literal["json", "form", "raw"] = "json"
    http_timeout_seconds: float = Field(
        default=30,
        gt=0,
        le=3600,
        description="HTTP time limit for the whole exchange (connect, redirects, body). "
        "The time limit of one attempt is the node's own timeout_seconds, next to data.",
    )
    auth: AuthConfig | None = None
    follow_redirects: bool = True
    fail_on_status: bool = Field(
        default=True, description="Fail the node on a 4xx/5xx status (5xx and 429 retry)."
    )


class ApiCallNode(NodeType):
    """Makes an HTTP request and outputs the response."""

    name = "api_call"
    kind = NodeKind.ACTIVITY
    execution = Execution.LOCAL  # short I/O: a local activity when its attempt is short
    config_model = ApiCallConfig
    output_schema = closed_object(
        "The response.",
        {
            "status_code": {"type": "integer"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {"description": "Parsed JSON when the response is JSON, else text."},
            "ok": {"type": "boolean", "description": "True for a 2xx status."},
            "elapsed_ms": {"type": "number"},
        },
    )
    description = (
        "HTTP request. Output: status_code, headers, body (parsed JSON when the response "
        "is JSON), ok, elapsed_ms. Connection errors, timeouts, 429 and 5xx retry."
    )
    example: ClassVar[dict[str, Any]] = {
        "url": "https://api.example.com/orders/{{ input.order_id }}",
        "method": "GET",
        "headers": {"Accept": "application/json"},
    }

    def attempt_bound_seconds(self, config: NodeConfig) -> float | None:
        """``http_timeout_seconds`` bounds the whole exchange (redirects, body included)."""
        return config.http_timeout_seconds if isinstance(config, ApiCallConfig) else None

    async def execute(self, config: NodeConfig, context: ActivityContext) -> dict[str, Any]:
        """Send the request; output the response (see the module docstring for errors)."""
        assert isinstance(config, ApiCallConfig)
        resources = require_resources(context, self.name)
        with resources.redacting_errors():
            output = await call_api(config, resources)
            # A server may echo what it received (httpbin does): keep credentials out of
            # the output, which Temporal stores in the run's history.
            return cast(dict[str, Any], resources.redact_value(output))


async def call_api(config: ApiCallConfig, resources: NodeResources) -> dict[str, Any]:
    """One ``api_call``: build, send, read (capped), decode."""
    url = checked_url(config.url)
    if config.query:
        # Not build_request(params=...): since httpx 0.28 that replaces the URL's query.
        url = url.copy_merge_params(query_params(config.query))
    credential = auth_credential(config.auth, resources.credentials, url)
    auth = auth_headers(config.auth, credential)
    request = build_request(
        resources.http,
        config.method,
        url,
        headers=request_headers(config, auth),
        timeout_seconds=config.http_timeout_seconds,
        **body_arguments(config),
    )
    started = time.perf_counter()
    async with open_response(
        resources,
        request,
        timeout_seconds=config.http_timeout_seconds,
        follow_redirects=config.follow_redirects,
        credential_headers=auth.keys(),
        credential_allows=None if credential is None else _allows(credential),
    ) as response:
        if config.fail_on_status and response.status_code >= 400:
            raise status_error(response, await read_excerpt(response), target(request))
        content = await read_body(
            response, resources.settings.http_max_response_bytes, target(request)
        )
    return {
        "status_code": response.status_code,
        "headers": dict(response.headers.items()),
        "body": decode_body(response, content),
        "ok": response.is_success,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
    }


# --- Building the request -------------------------------------------------------------


_AUTH_TYPES: Final[dict[str, tuple[type[HostBoundCredential], ...]]] = {
    "bearer": (BearerCredential, SecretCredential),
    "basic": (BasicCredential,),
    "header": (HeaderCredential, SecretCredential, BearerCredential),
}
"""The credential types each ``auth.type`` accepts."""


def auth_credential(
    auth: AuthConfig | None, credentials: CredentialStore, url: httpx.URL
) -> HostBoundCredential | None:
    """The credential ``auth`` names, checked to fit its type and to be allowed for ``url``.

    Non-retryable ``CredentialError`` when it is unknown, of the wrong type, or bound to
    other hosts (``allowed_hosts``).
    """
    if auth is None:
        return None
    credential = credentials.get(auth.credential, _AUTH_TYPES[auth.type])
    credentials.check_host(auth.credential, credential, *host_and_port(url))
    return credential


def auth_headers(auth: AuthConfig | None, credential: HostBoundCredential | None) -> dict[str, str]:
    """The header(s) that carry ``auth``'s credential (from :func:`auth_credential`).

    ``bearer`` takes a bearer or secret credential; ``basic`` a basic one; ``header`` a
    header credential (its header name unless ``header_name`` is set), or a secret or
    bearer one sent as ``header_name`` (default ``X-API-Key``).
    """
    if auth is None or credential is None:
        return {}
    if isinstance(credential, BasicCredential):
        return {"Authorization": credential.authorization()}
    if auth.type == "bearer":
        return {"Authorization": f"Bearer {_secret(credential)}"}
    default_name = (
        credential.header if isinstance(credential, HeaderCredential) else DEFAULT_API_KEY_HEADER
    )
    return {auth.header_name or default_name: _secret(credential)}


def _allows(credential: HostBoundCredential) -> Callable[[httpx.URL], bool]:
    def allows(url: httpx.URL) -> bool:
        try:
            return credential.allows_host(*host_and_port(url))
        except ValueError:  # not an http(s) URL: the transport refuses it anyway
            return False

    return allows


def _secret(credential: object) -> str:
    if isinstance(credential, BearerCredential):
        return credential.token.get_secret_value()
    if isinstance(credential, SecretCredential | HeaderCredential):
        return credential.value.get_secret_value()
    raise TypeError(f"no single secret in a {type(credential).__name__}")


def body_arguments(config: ApiCallConfig) -> dict[str, Any]:
    """``httpx.build_request`` keyword arguments for the configured body."""
    body = config.body
    if body is None:
        return {}
    if config.body_type == "json":
        return {"json": body}
    if config.body_type == "form":
        if not isinstance(body, dict):
            raise invalid_error(
                f"body_type 'form' needs an object body, got {type(body).__name__}",
                "InvalidNodeConfig",
            )
        return {"data": {key: _form_values(value) for key, value in body.items()}}
    text = body if isinstance(body, str) else json.dumps(body)
    return {"content": text.encode("utf-8")}


def request_headers(config: ApiCallConfig, auth: Mapping[str, str]) -> dict[str, str]:
    """The configured headers, the credential's header(s), a default raw Content-Type."""
    headers = merge_headers(config.headers, auth)
    if (
        config.body_type == "raw"
        and config.body is not None
        and not any(name.lower() == "content-type" for name in headers)
    ):
        headers["Content-Type"] = "text/plain; charset=utf-8"
    return headers


def _form_values(value: Any) -> str | list[str]:
    if isinstance(value, list | tuple):
        return [scalar_text(item) for item in value if item is not None]
    return "" if value is None else scalar_text(value)


api_call_node = ApiCallNode()
