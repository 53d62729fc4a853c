"""The HTTP toolkit of the I/O nodes: build a request, send it, read the response.

``api_call``, ``webhook`` and ``ai_agent`` all talk HTTP through what this module
provides, so that they share one set of rules without importing one another:

- :func:`build_http_client`: the SSRF-guarded, pooled client (no cookies, no proxies
  from the environment, no ``.netrc``); :class:`~flov7.nodes.resources.NodeResources`
  holds one per worker.
- :func:`checked_url`, :func:`build_request`, :func:`merge_headers`,
  :func:`query_params`: a request from a node's config, malformed input being a
  non-retryable error.
- :func:`open_response`: send under one overall deadline, following redirects hop by hop
  (each hop checked by the guard, credential headers dropped when a hop leaves the
  origin or the credential's hosts).
- :func:`read_body` (capped at ``FLOV7_HTTP_MAX_RESPONSE_BYTES``), :func:`read_excerpt`,
  :func:`decode_body`, :func:`status_error` and :func:`parse_retry_after`: one rule for
  failures. What a retry can fix is retryable (connection errors, timeouts, 429, 5xx;
  ``Retry-After`` honoured up to :data:`MAX_RETRY_AFTER_SECONDS`), the rest fails at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http.cookiejar
import ipaddress
import json
import ssl
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast

import httpx

from flov7 import __version__
from flov7.errors import NodeExecutionError
from flov7.observability.tracing import traced_transport
from flov7.security.ssrf import (
    ALLOWED_SCHEMES,
    GuardedTransport,
    Origin,
    OutboundBlockedError,
    OutboundPolicy,
    display_url,
    is_hostname,
)

if TYPE_CHECKING:
    from flov7.nodes.resources import NodeResources

__all__ = [
    "EXCERPT_BYTES",
    "EXCERPT_CHARS",
    "MAX_REDIRECTS",
    "MAX_RETRY_AFTER_SECONDS",
    "USER_AGENT",
    "build_http_client",
    "build_request",
    "checked_url",
    "decode_body",
    "host_and_port",
    "invalid_error",
    "merge_headers",
    "open_response",
    "parse_retry_after",
    "query_params",
    "read_body",
    "read_excerpt",
    "scalar_text",
    "status_error",
    "target",
]

MAX_RETRY_AFTER_SECONDS: Final = 60.0
"""Longest server-requested wait (``Retry-After``) honoured before the next attempt."""
MAX_REDIRECTS: Final = 10
EXCERPT_BYTES: Final = 2048
"""How much of an error response is read to quote it."""
EXCERPT_CHARS: Final = 300
USER_AGENT: Final = f"flov7/{__version__}"


# --- Building the request -------------------------------------------------------------


def checked_url(raw: str) -> httpx.URL:
    """``raw`` as an absolute http(s) URL; non-retryable errors otherwise."""
    try:
        url = httpx.URL(raw.strip())
    except httpx.InvalidURL as exc:
        raise invalid_error(f"Invalid URL {raw!r}: {exc}", "InvalidUrl") from None
    if not url.scheme:
        raise invalid_error(f"URL {raw!r} must start with http:// or https://", "InvalidUrl")
    if url.scheme not in ALLOWED_SCHEMES:
        raise OutboundBlockedError.unsupported_scheme(url)
    if not url.host:
        raise invalid_error(f"URL {raw!r} has no host", "InvalidUrl")
    host = url.raw_host.decode("ascii")  # IDNA-encoded: bücher.de -> xn--bcher-kva.de
    if not is_hostname(host) and not _is_ip(host):
        # Caught here: otherwise a DNS failure, retried for nothing.
        raise invalid_error(f"URL {raw!r} has an invalid host", "InvalidUrl")
    return url


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def host_and_port(url: httpx.URL) -> tuple[str, int]:
    """The host of ``url`` (normalised, IDNA-encoded) and its port (default from scheme)."""
    origin = Origin.of(url)
    return origin.host, origin.port


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
                params.append((key, scalar_text(item)))
    return httpx.QueryParams(tuple(params))


def scalar_text(value: Any) -> str:
    """A query or form value as text: booleans lower-case, numbers as written, else JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


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
        raise invalid_error(
            f"Invalid request {method} {display_url(url)}: header names and values must be ASCII",
            "InvalidRequest",
        ) from None
    except (ValueError, TypeError) as exc:
        raise invalid_error(
            f"Invalid request {method} {display_url(url)}: {exc}", "InvalidRequest"
        ) from exc


def target(request: httpx.Request) -> str:
    """``METHOD url`` for messages (no user-info)."""
    return f"{request.method} {display_url(request.url)}"


def invalid_error(message: str, error_type: str) -> NodeExecutionError:
    """A non-retryable error: what the node was asked to send cannot be sent."""
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
        raise invalid_error(f"Invalid request {where}: {exc}", "InvalidRequest") from exc
    except httpx.DecodingError as exc:
        raise invalid_error(f"Undecodable response to {where}: {exc}", "InvalidResponse") from exc


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
    raise invalid_error(
        f"{target(request)}: more than {MAX_REDIRECTS} redirects", "TooManyRedirects"
    )


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


def parse_retry_after(value: str | None, now: datetime | float | None = None) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) in seconds, capped at
    :data:`MAX_RETRY_AFTER_SECONDS` so that a confused server cannot park a workflow;
    None if absent or invalid. ``now`` (a datetime or a Unix time) defaults to the clock.
    """
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
        if isinstance(now, int | float):
            now = datetime.fromtimestamp(now, UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


# --- The SSRF-guarded client ------------------------------------------------------------


class _NoCookies(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing.

    The client is shared by every run on the worker: a cookie set by one workflow's
    server must not be sent on another workflow's requests.
    """

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        return None

    def extract_cookies(self, response: Any, request: urllib.request.Request) -> None:
        return None


def build_http_client(
    policy: OutboundPolicy, *, max_connections: int = 100, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every connection goes through the SSRF guard.

    ``trust_env=False``: environment proxies would make the guard check the proxy's
    address instead of the destination's, and ``.netrc`` credentials must not be added
    to requests that workflow authors aim.
    """
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=min(20, max_connections),
    )
    return httpx.AsyncClient(
        transport=traced_transport(GuardedTransport(policy, limits=limits, verify=verify)),
        trust_env=False,
        cookies=_NoCookies(),
        headers={"User-Agent": USER_AGENT},
        timeout=httpx.Timeout(30.0),
        follow_redirects=False,
    )
