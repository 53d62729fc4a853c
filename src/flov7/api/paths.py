"""One path, one answer: ``/api/v1/workflows/`` is ``/api/v1/workflows``.

Starlette answers a path with an extra trailing slash with a 307 redirect. Many clients
do not follow a redirect of a POST, and the guide itself spells
``POST /api/v1/workflow/execute/`` with the slash. So the slash is dropped before
routing and both spellings get the same answer at once.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class TrailingSlashMiddleware:
    """Routes ``/path/`` as ``/path`` (the root ``/`` stays as it is)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope.get("path", "")
            if len(path) > 1 and path.endswith("/"):
                scope = {**scope, "path": path.rstrip("/") or "/"}
                raw = scope.get("raw_path")
                if isinstance(raw, bytes) and raw.endswith(b"/"):
                    scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
