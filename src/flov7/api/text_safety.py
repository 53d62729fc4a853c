"""Lone surrogates never make the API answer 500: replaced on the way in and out.

- :class:`SurrogateScrubMiddleware` rewrites a JSON request body whose ``\\uXXXX``
  escapes encode a lone surrogate, so nothing the API stores or starts carries one (a
  workflow document, a run input);
- :class:`SafeJSONResponse` is the app's response class: whatever it is given (a run's
  result from Temporal, an old record), it renders valid UTF-8.

Both replace a lone surrogate with U+FFFD (:mod:`flov7.unicode_safety`), as the store
does for its JSON columns, so a value reads the same everywhere.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flov7.unicode_safety import scrub_value

__all__ = ["SafeJSONResponse", "SurrogateScrubMiddleware"]

# A JSON escape of a surrogate code point (paired or not: json.loads tells them apart).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class SafeJSONResponse(JSONResponse):
    """A JSONResponse that renders lone surrogates as U+FFFD instead of raising."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return super().render(scrub_value(content))


class SurrogateScrubMiddleware:
    """Replaces lone surrogates in JSON request bodies before anything parses them.

    Sits inside the body size limit, so it only ever reads a bounded body, and only
    parses one that contains a surrogate escape at all.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        original = b"".join(chunks)
        body = _scrubbed(original)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        if body is not original:
            scope = {**scope, "headers": _with_length(scope, len(body))}
        await self.app(scope, replay, send)


def _scrubbed(body: bytes) -> bytes:
    if not _SURROGATE_ESCAPE.search(body):
        return body
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return body  # not JSON (or absurdly deep): the route answers as it would anyway
    cleaned = scrub_value(document)
    if cleaned is document:
        return body  # only valid pairs
    return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":")).encode()


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


def _with_length(scope: Scope, length: int) -> list[tuple[bytes, bytes]]:
    headers = [(name, value) for name, value in scope["headers"] if name != b"content-length"]
    headers.append((b"content-length", str(length).encode()))
    return headers
