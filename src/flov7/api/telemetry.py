"""Request ids, request logs and HTTP metrics: the outermost layer of the API.

Every request gets a request id: the client's ``X-Request-ID`` when it is a sane
token, else a fresh one. It is returned in the response's ``X-Request-ID`` header,
bound for the whole request (so every log line the request causes carries it, and a
run it starts keeps it in its memo: :mod:`flov7.observability.correlation`), and
logged with the request's one line: method, route template, status, duration.

The line names the route *template* (``/api/v1/workflow/status/{execution_id}``) and
never the query string: a client that wrongly sends an API key as ``?api_key=...``
must not find it in the logs. The same template labels the HTTP metrics, so that their
cardinality is that of the routes, not of the ids in paths.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flov7.observability import correlation, metrics

__all__ = ["REQUEST_ID_HEADER", "RequestTelemetryMiddleware", "route_template"]

REQUEST_ID_HEADER = "X-Request-ID"
UNMATCHED = "unmatched"
"""The route label of requests no route matched (404s of random paths)."""

log = logging.getLogger("flov7.api.access")


def route_template(scope: Scope) -> str:
    """The template of the route that served ``scope`` (``unmatched`` for none).

    The route object FastAPI leaves in the scope knows its own template only, without
    the prefix of the router it was included with (``/api/v1``): that prefix is the
    part of the request path before the part the route matched.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str) or not template:
        return UNMATCHED
    path = str(scope.get("path", ""))
    regex = getattr(route, "path_regex", None)
    if regex is not None and not regex.match(path):
        for index, char in enumerate(path):
            if char == "/" and regex.match(path[index:]):
                return path[:index] + template
    return template


class RequestTelemetryMiddleware:
    """Binds the request id, returns it, logs and counts the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = correlation.safe_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        started = time.perf_counter()
        status = 500  # if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with correlation.bound(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = route_template(scope)
                method = str(scope.get("method", "GET"))
                metrics.record_http_request(route, method, status, elapsed)
                log.info(
                    "%s %s %d %.1f ms",
                    method,
                    route,
                    status,
                    elapsed * 1000,
                    extra={"event": "http_request", "status": status, "route": route},
                )
