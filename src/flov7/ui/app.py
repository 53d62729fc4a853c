"""Mount the UI on an app: ``GET /`` (the page) and ``/ui/static`` (its files)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from flov7.api.routes.home import home

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_DIR", "mount_ui"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The packaged assets (pyproject.toml ships them as package data)."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    # Styles set from scripts (bar widths, node positions) count as inline styles.
    "style-src 'self' 'unsafe-inline'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""Everything the page loads comes from this server: no CDN, no fonts from the network."""

_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # The page holds no secret, but an API key typed into it must not be cached around.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _index() -> HTMLResponse:
    return HTMLResponse((STATIC_DIR / "index.html").read_text(encoding="utf-8"), headers=_HEADERS)


def mount_ui(app: FastAPI) -> None:
    """Serve the UI at ``/`` (the page; its screens are ``#/...`` routes) and its
    assets at ``/ui/static``. Leaves ``/docs``, ``/health`` and ``/api`` as they are.

    ``/`` answers a browser (``Accept: text/html``) with the page, and any other client
    (``curl``, scripts) with the map of where things are (:func:`flov7.api.routes.home.home`).
    """

    async def index(request: Request) -> Response:
        """The web UI, or where things are."""
        if "text/html" in request.headers.get("accept", ""):
            return _index()
        return JSONResponse(await home(request))

    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
