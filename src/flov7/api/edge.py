"""The API's edge: one error shape for unknown paths, no Host-built redirects, bounded
request heads.

- Unknown ``/api/v1/...`` paths are answered by a catch-all route inside the API router,
  behind the same API-key dependency as every other route: with keys configured, a
  request without a valid key gets 401 whatever the path, so the API's map cannot be
  probed without a key; with a key, 404 (or 405 when the path exists for another method).
- Trailing slashes are stripped before routing (:class:`TrailingSlashMiddleware`) and
  Starlette's slash redirects are off: no response ever carries a ``Location`` built
  from the request's ``Host`` header.
- Request lines and headers are bounded: :class:`RequestHeadLimitMiddleware` answers
  414 to a request line (path and query) over :data:`MAX_REQUEST_LINE_BYTES` and 431 to
  a head over :data:`MAX_REQUEST_HEAD_BYTES`, in the API's error shape, before routing;
  the HTTP server itself (:func:`uvicorn_limits`) stops buffering a head that is still
  incomplete at that size (400, connection closed), so a slow client cannot make it
  hold more.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from flov7.api.errors import error_body

__all__ = [
    "MAX_REQUEST_HEAD_BYTES",
    "MAX_REQUEST_LINE_BYTES",
    "RequestHeadLimitMiddleware",
    "TrailingSlashMiddleware",
    "fallback_router",
    "uvicorn_limits",
]

MAX_REQUEST_HEAD_BYTES = 16 * 1024
"""Longest request line plus headers accepted (also h11's incomplete-event limit)."""
MAX_REQUEST_LINE_BYTES = 8 * 1024
"""Longest path plus query string accepted."""

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def uvicorn_limits() -> dict[str, Any]:
    """Settings for ``uvicorn.Config``: the pure-Python h11 parser with a bounded head.

    h11 (not httptools) so that the limit is one documented number whatever is
    installed; uvicorn answers 400 to a head over it and closes the connection.
    """
    return {"http": "h11", "h11_max_incomplete_event_size": MAX_REQUEST_HEAD_BYTES}


class RequestHeadLimitMiddleware:
    """414 / 431 (API error shape) for request lines and heads over the limits."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            line = len(scope.get("raw_path") or scope["path"].encode()) + len(
                scope.get("query_string", b"")
            )
            head = line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if line > MAX_REQUEST_LINE_BYTES:
                await _refuse(send, 414, "uri_too_long", f"over {MAX_REQUEST_LINE_BYTES} bytes")
                return
            if head > MAX_REQUEST_HEAD_BYTES:
                await _refuse(
                    send, 431, "headers_too_large", f"over {MAX_REQUEST_HEAD_BYTES} bytes"
                )
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, code: str, what: str) -> None:
    if status == 414:
        message = f"The request line (path and query) is {what}"
    else:
        message = f"The request line and headers are {what}"
    payload = json.dumps(error_body(code, message), separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class TrailingSlashMiddleware:
    """``/api/v1/workflows/`` is served as ``/api/v1/workflows``: no redirect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                stripped = path.rstrip("/") or "/"
                raw: bytes = scope.get("raw_path") or path.encode()
                scope = {**scope, "path": stripped, "raw_path": raw.rstrip(b"/") or b"/"}
        await self.app(scope, receive, send)


def fallback_router(prefix: str, dependencies: Sequence[Any]) -> APIRouter:
    """A catch-all for ``prefix`` and below, behind ``dependencies`` (the API key).

    Include it after every other router: routes match in order.
    """
    router = APIRouter(prefix=prefix, dependencies=list(dependencies))

    async def unknown_path(request: Request) -> None:
        # Reached only after the router's API-key dependency passed. A path another
        # route serves for other methods is a 405, as Starlette would answer it.
        if _serves_other_methods(request):
            raise StarletteHTTPException(status_code=405)
        raise StarletteHTTPException(status_code=404)

    for path in ("", "/{path:path}"):
        router.add_api_route(path, unknown_path, methods=_METHODS, include_in_schema=False)
    return router


def _serves_other_methods(request: Request) -> bool:
    app = request.app
    table: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(
        app.state, "flov7_path_methods", None
    )
    if table is None:
        # From the OpenAPI document: every API path template and its methods (the
        # hidden trailing-slash aliases are stripped to these by TrailingSlashMiddleware).
        table = [
            (compile_path(template)[0], frozenset(method.upper() for method in methods))
            for template, methods in app.openapi().get("paths", {}).items()
        ]
        app.state.flov7_path_methods = table
    path = request.scope["path"]
    method = request.method.upper()
    return any(
        pattern.match(path)
        and method not in methods
        and not (method == "HEAD" and "GET" in methods)
        for pattern, methods in table
    )
