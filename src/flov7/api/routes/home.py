"""``GET /`` (where to go from here) and ``/docs`` served from packaged assets.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN and is blank offline; here the
page's script and stylesheet come from the ``swagger-ui-bundle`` package, served under
``/docs/assets``, so the interactive API reference works on a machine with no internet.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from flov7.config import Settings

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"

router = APIRouter(include_in_schema=False)


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` from the packaged assets (build the app with
    ``docs_url=None`` so FastAPI's CDN page is not registered too)."""
    app.mount(ASSETS_URL, StaticFiles(directory=swagger_ui_path), name="swagger-ui-assets")
    app.include_router(router)


@router.get(DOCS_URL)
async def swagger_ui(request: Request) -> HTMLResponse:
    """The interactive API reference."""
    app = request.app
    return get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - Swagger UI",
        oauth2_redirect_url=f"{DOCS_URL}/oauth2-redirect",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
    )


@router.get(f"{DOCS_URL}/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 helper page."""
    return get_swagger_ui_oauth2_redirect_html()


async def home(request: Request) -> dict[str, Any]:
    """Where things are: the web UI, the API reference, the API, health, and the
    Temporal Web UI (what ``GET /`` answers a client that does not ask for HTML)."""
    wiring = getattr(request.app.state, "wiring", None)
    settings: Settings | None = getattr(wiring, "settings", None)
    return {
        "service": "Flov7",
        "ui": "/",
        "docs": DOCS_URL,
        "openapi": request.app.openapi_url,
        "api": "/api/v1",
        "node_types": "/api/v1/node-types",
        "health": "/health",
        "temporal_ui": temporal_ui_url(settings),
    }


def temporal_ui_url(settings: Settings | None) -> str | None:
    """The embedded dev server's Web UI, or None (an external cluster has its own UI)."""
    if settings is None or not settings.flov7.enable_temporal_features:
        return None
    if not settings.temporal.uses_embedded_server or not settings.flov7.devserver_ui:
        return None
    return f"http://127.0.0.1:{settings.flov7.devserver_ui_port}"
