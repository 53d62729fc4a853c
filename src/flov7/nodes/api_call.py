"""``api_call``: an HTTP request (activity).

The request goes through the worker's shared, SSRF-guarded client
(:attr:`NodeResources.http <flov7.nodes.resources.NodeResources.http>`). Failures follow
one rule, shared with ``webhook`` (which reuses :func:`open_response` and
:func:`status_error`): what a retry can fix is retryable (connection errors, timeouts,
429, 5xx; ``Retry-After`` is honoured up to :data:`MAX_RETRY_AFTER_SECONDS`), the rest
fails at once (other 4xx, refused destinations, bad configuration, oversized responses).

A credential bound to hosts (``allowed_hosts``) is checked against the URL before
anything is sent, and its headers are dropped on any redirect hop that leaves the
original origin or goes to a host outside its ``allowed_hosts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ipaddress
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Literal, cast

import httpx
from pydantic import Field

from flov7.errors import NodeExecutionError
from flov7.nodes.base import ActivityContext, NodeConfig, NodeKind, NodeType, register
from flov7.nodes.credentials import (
    BasicCredential,
    BearerCredential,
    CredentialStore,
    HeaderCredential,
    HostBoundCredential,
    SecretCredential,
)
from flov7.nodes.outputs import closed_object
from flov7.nodes.resources import NodeResources, require_resources
from flov7.security.ssrf import (
    ALLOWED_SCHEMES,
    Origin,
    OutboundBlockedError,
    display_url,
    is_hostname,
)

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]

MAX_RETRY_AFTER_SECONDS: Final = 60.0
"""Longest server-requested wait (``Retry-After``) honoured before the next attempt."""
MAX_REDIRECTS: Final = 10
EXCERPT_BYTES: Final = 2048
"""How much of an error response is read to quote it."""
EXCERPT_CHARS: Final = 300
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


def checked_url(raw: str) -> httpx.URL:
    """``raw`` as an absolute http(s) URL; non-retryable errors otherwise."""
    try:
        url = httpx.URL(raw.strip())
    except httpx.InvalidURL as exc:
        raise _invalid(f"Invalid URL {raw!r}: {exc}", "InvalidUrl") from None
    if not url.scheme:
        raise _invalid(f"URL {raw!r} must start with http:// or https://", "InvalidUrl")
    if url.scheme not in ALLOWED_SCHEMES:
        raise OutboundBlockedError.unsupported_scheme(url)
    if not url.host:
        raise _invalid(f"URL {raw!r} has no host", "InvalidUrl")
    host = url.raw_host.decode("ascii")  # IDNA-encoded: bücher.de -> xn--bcher-kva.de
    if not is_hostname(host) and not _is_ip(host):
        # Caught here: otherwise a DNS failure, retried for nothing.
        raise _invalid(f"URL {raw!r} has an invalid host", "InvalidUrl")
    return url


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


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


def host_and_port(url: httpx.URL) -> tuple[str, int]:
    """The host of ``url`` (normalised, IDNA-encoded) and its port (default from scheme)."""
    origin = Origin.of(url)
    return origin.host, origin.port


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


def merge_headers(headers: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """``headers`` plus ``overrides``, which replace same-named headers (any case)."""
    replaced = {name.lower() for name in overrides}
    merged = {name: value for name, value in headers.items() if name.lower() not in replaced}
    merged.update(overrides)
    return merged


def query_params(query: Mapping[str, Any]) -> httpx.QueryParams:
    """Query parameters as pairs: lists repeat the key, null is left out, objects are JSON."""
    params: list[tuple[str, str]] = []
    for key, value in query.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is not None:
                params.append((key, _scalar(item)))
    return httpx.QueryParams(tuple(params))


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def body_arguments(config: ApiCallConfig) -> dict[str, Any]:
    """``httpx.build_request`` keyword arguments for the configured body."""
    body = config.body
    if body is None:
        return {}
    if config.body_type == "json":
        return {"json": body}
    if config.body_type == "form":
        if not isinstance(body, dict):
            raise _invalid(
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
        return [_scalar(item) for item in value if item is not None]
    return "" if value is None else _scalar(value)


def build_request(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL,
    *,
    headers: Mapping[str, str],
    timeout_seconds: float,
    **body: Any,
) -> httpx.Request:
    """``client.build_request``, with malformed input as a non-retryable error.

    ``timeout_seconds`` becomes httpx's per-phase limit (connect, each read, each write);
    :func:`open_response` adds the overall deadline.
    """
    try:
        return client.build_request(
            method, url, headers=headers, timeout=httpx.Timeout(timeout_seconds), **body
        )
    except UnicodeEncodeError:
        raise _invalid(
            f"Invalid request {method} {display_url(url)}: header names and values must be ASCII",
            "InvalidRequest",
        ) from None
    except (ValueError, TypeError) as exc:
        raise _invalid(
            f"Invalid request {method} {display_url(url)}: {exc}", "InvalidRequest"
        ) from exc


def target(request: httpx.Request) -> str:
    """``METHOD url`` for messages (no user-info)."""
    return f"{request.method} {display_url(request.url)}"


def _invalid(message: str, error_type: str) -> NodeExecutionError:
    return NodeExecutionError(message, error_type=error_type, retryable=False)


# --- Sending ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def open_response(
    resources: NodeResources,
    request: httpx.Request,
    *,
    timeout_seconds: float,
    follow_redirects: bool,
    credential_headers: Iterable[str] = (),
    credential_allows: Callable[[httpx.URL], bool] | None = None,
) -> AsyncIterator[httpx.Response]:
    """Send ``request`` and yield the final response, its body not yet read.

    - ``timeout_seconds`` bounds everything, redirects and reading the body included
      (httpx's own timeouts are per phase: a server trickling bytes never trips them).
    - Redirects are followed here, up to :data:`MAX_REDIRECTS`; each hop is a new
      connection checked by the SSRF guard. ``credential_headers`` are dropped when a hop
      leaves the original origin (httpx drops ``Authorization`` itself, not custom
      headers such as ``X-API-Key``), or when ``credential_allows`` refuses the hop's URL
      (the credential's ``allowed_hosts``).
    - Transport errors become :class:`NodeExecutionError`: retryable for connection
      problems and timeouts, not for invalid requests.
    """
    where = target(request)
    try:
        async with asyncio.timeout(timeout_seconds):
            response = await _send_following(
                resources.http,
                request,
                follow_redirects,
                {h.lower() for h in credential_headers},
                credential_allows,
            )
            try:
                yield response
            finally:
                await response.aclose()
    except NodeExecutionError:
        raise
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise NodeExecutionError(
            f"{where} timed out after {timeout_seconds:g} s",
            error_type="Timeout",
            details={"timeout_seconds": timeout_seconds, "phase": type(exc).__name__},
        ) from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise NodeExecutionError(
            f"{where} failed: {type(exc).__name__}: {exc}", error_type="ConnectionError"
        ) from exc
    except (httpx.LocalProtocolError, httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise _invalid(f"Invalid request {where}: {exc}", "InvalidRequest") from exc
    except httpx.DecodingError as exc:
        raise _invalid(f"Undecodable response to {where}: {exc}", "InvalidResponse") from exc


async def _send_following(
    client: httpx.AsyncClient,
    request: httpx.Request,
    follow_redirects: bool,
    credential_headers: set[str],
    credential_allows: Callable[[httpx.URL], bool] | None = None,
) -> httpx.Response:
    origin = request.url
    for _hop in range(MAX_REDIRECTS + 1):
        response = await client.send(request, stream=True, follow_redirects=False)
        next_request = response.next_request
        if not follow_redirects or next_request is None:
            return response
        await response.aclose()
        if not _same_origin(origin, next_request.url) or (
            credential_allows is not None and not credential_allows(next_request.url)
        ):
            for name in credential_headers:
                next_request.headers.pop(name, None)
        request = next_request
    raise _invalid(f"{target(request)}: more than {MAX_REDIRECTS} redirects", "TooManyRedirects")


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    def port(url: httpx.URL) -> int | None:
        return url.port or {"http": 80, "https": 443}.get(url.scheme)

    if a.host != b.host:
        return False
    upgraded = a.scheme == "http" and b.scheme == "https" and port(a) == 80 and port(b) == 443
    return upgraded or (a.scheme == b.scheme and port(a) == port(b))


# --- Reading the response -------------------------------------------------------------


async def read_body(response: httpx.Response, limit: int, where: str) -> bytes:
    """The whole (decoded) body, or a non-retryable error once it passes ``limit`` bytes.

    A declared ``Content-Length`` over the limit fails before reading anything; then
    the body is streamed and reading stops at the limit, so a huge or endless body
    costs at most ``limit`` bytes of memory.
    """
    declared = response.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(where, limit, f"Content-Length is {int(declared)}")
    chunks: list[bytes] = []
    size = 0
    async with contextlib.aclosing(_chunks(response)) as stream:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                raise _too_large(where, limit, "the body is longer")
            chunks.append(chunk)
    return b"".join(chunks)


async def read_excerpt(response: httpx.Response) -> str:
    """The start of an error response, on one line, for messages."""
    buffer = bytearray()
    async with contextlib.aclosing(_chunks(response)) as stream:
        async for chunk in stream:
            buffer += chunk
            if len(buffer) >= EXCERPT_BYTES:
                break
    text = " ".join(bytes(buffer[:EXCERPT_BYTES]).decode(_encoding(response), "replace").split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def _chunks(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    # aiter_bytes is an async generator; typed as one so that aclosing() can close it
    # when reading stops early.
    return cast(AsyncGenerator[bytes, None], response.aiter_bytes())


def _too_large(where: str, limit: int, why: str) -> NodeExecutionError:
    return NodeExecutionError(
        f"The response to {where} is larger than the {limit}-byte limit ({why}); raise "
        "FLOV7_HTTP_MAX_RESPONSE_BYTES to accept it",
        error_type="ResponseTooLarge",
        retryable=False,
        details={"limit_bytes": limit},
    )


def _encoding(response: httpx.Response) -> str:
    return response.charset_encoding or "utf-8"


def decode_body(response: httpx.Response, content: bytes) -> Any:
    """Parsed JSON for a JSON response (text if it does not parse), text otherwise."""
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    is_json = media_type == "application/json" or media_type.endswith("+json")
    if not content:
        return None if is_json else ""
    text = content.decode(_encoding(response), errors="replace")
    if is_json:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def status_error(response: httpx.Response, excerpt: str, where: str) -> NodeExecutionError:
    """The error for a failed status: 429 and 5xx retry (after ``Retry-After``), others not."""
    status = response.status_code
    retryable = status == 429 or status >= 500
    retry_after = parse_retry_after(response.headers.get("retry-after")) if retryable else None
    if status == 429:
        error_type = "HttpRateLimited"
    elif status >= 500:
        error_type = "HttpServerError"
    elif status >= 400:
        error_type = "HttpClientError"
    else:
        error_type = "HttpUnexpectedStatus"
    message = f"HTTP {status} {response.reason_phrase} from {where}".rstrip()
    if excerpt:
        message += f": {excerpt}"
    if retry_after is not None:
        message += f" (server asked to retry after {retry_after:g} s)"
    return NodeExecutionError(
        message,
        error_type=error_type,
        retryable=retryable,
        details={"status_code": status, "body_excerpt": excerpt},
        retry_after_seconds=retry_after,
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) in seconds, capped; None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


api_call_node = register(ApiCallNode())
