"""The FastAPI application: :func:`create_app`.

``flov7 serve`` builds it with the Temporal environment it started; deployments that run
the API alone use the factory directly::

    uvicorn --factory flov7.api.app:create_app --host 0.0.0.0 --port 8002

Then the app opens what it needs in its lifespan: the store (migrated), and the
execution backend the settings select (``TEMPORAL_HOST``; a worker only with
``START_TEMPORAL_WORKER=true``; the embedded dev server when no ``TEMPORAL_HOST``).
Building the app does no I/O, so it can also be imported for its OpenAPI schema.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import APIRouter, Depends, FastAPI

from flov7 import __version__
from flov7.api.access_log import redact_capability_paths
from flov7.api.auth import ApiKeyRing, require_api_key
from flov7.api.deps import MAX_WAIT_SECONDS, ApiContext
from flov7.api.edge import RequestHeadLimitMiddleware, TrailingSlashMiddleware, fallback_router
from flov7.api.errors import install_error_handlers
from flov7.api.limits import BodySizeLimitMiddleware
from flov7.api.routes import (
    approvals,
    codec,
    events,
    executions,
    health,
    hooks,
    metrics,
    node_types,
    rerun,
    schedules,
    stream,
    workflows,
)
from flov7.api.routes.home import install_docs
from flov7.api.runs import API_PREFIX, recorder
from flov7.api.telemetry import RequestTelemetryMiddleware
from flov7.api.text_safety import SafeJSONResponse, SurrogateScrubMiddleware
from flov7.backends import open_backend
from flov7.config import Settings, get_settings
from flov7.observability.logging import register_secrets
from flov7.observability.tracing import instrument_app
from flov7.runs.contract import ExecutionBackend
from flov7.runs.service import RunService
from flov7.store.database import Database, redacted_url
from flov7.store.repository import Repository
from flov7.ui import mount_ui

log = logging.getLogger(__name__)

__all__ = ["API_PREFIX", "create_app"]

_DESCRIPTION = """
Run workflow documents (JSON graphs of typed nodes) durably on Temporal, store them
with immutable versions, and follow every run: status, per-node timeline, cancel.

**Authentication.** When API keys are configured (`FLOV7_API_KEYS`, or
`flov7 api-key create NAME`), every `/api/v1` route needs `Authorization: Bearer <key>`
or `X-API-Key: <key>`. Without keys, only clients on the loopback are served.

**Errors** always have the shape `{"error": {"code", "message", "details"}}`.
"""

_TAGS = [
    {"name": "executions", "description": "Start runs and follow them."},
    {"name": "workflows", "description": "Stored workflows and their versions."},
    {"name": "node types", "description": "What each node type accepts."},
    {"name": "health", "description": "Liveness and Temporal reachability."},
]


@dataclass(frozen=True)
class _Wiring:
    """What :func:`create_app` was given; the lifespan opens whatever is missing."""

    settings: Settings | None
    backend: ExecutionBackend | None
    database: Database | None
    max_wait_seconds: float


def create_app(
    settings: Settings | None = None,
    *,
    backend: ExecutionBackend | None = None,
    database: Database | None = None,
    max_wait_seconds: float = MAX_WAIT_SECONDS,
) -> FastAPI:
    """Build the API.

    Args:
        settings: Default: the process settings (environment and ``.env``), read now.
        backend: An execution backend already running (``flov7 serve``, tests);
            default: the lifespan opens the one the settings select.
        database: An open store; default: the lifespan opens ``FLOV7_DATABASE_URL``
            (migrating it) and closes it at shutdown.
        max_wait_seconds: Cap of ``?wait=true`` (the timeout a client may ask for).
    """
    settings = settings or get_settings()
    # Masked out of every log line (a key sent where it should not be included).
    register_secrets(settings.secret_values())
    app = FastAPI(
        title="Flov7 API",
        version=__version__,
        description=_DESCRIPTION,
        openapi_tags=_TAGS,
        lifespan=_lifespan,
        docs_url=None,  # Served by routes.home from packaged assets (works offline).
        redoc_url=None,  # ReDoc has no packaged build: it would be blank offline.
        # Renders lone surrogates as U+FFFD instead of failing with a 500 (text_safety).
        default_response_class=SafeJSONResponse,
        # Slash redirects would be built from the Host header: strip slashes instead.
        redirect_slashes=False,
    )
    app.state.wiring = _Wiring(settings, backend, database, max_wait_seconds)
    install_error_handlers(app)
    requires_key = [Depends(require_api_key)]
    api = APIRouter(prefix=API_PREFIX, dependencies=requires_key)
    api.include_router(executions.router)
    api.include_router(stream.router)
    api.include_router(events.router)
    api.include_router(schedules.router)
    api.include_router(hooks.router)
    api.include_router(rerun.router)
    api.include_router(workflows.router)
    api.include_router(node_types.router)
    api.include_router(health.api_router)
    app.include_router(api)
    # The guide's unauthenticated paths (probes carry no key).
    app.include_router(health.router)
    # Approval links carry their own permission (a signed token), not an API key; the
    # token stays out of the access log.
    app.include_router(approvals.router)
    redact_capability_paths()
    # Hook URLs prove their right to start a run themselves (token or signature).
    app.include_router(hooks.public_router)
    app.include_router(metrics.router)
    app.include_router(codec.router)  # its own auth: CORS preflights carry no key
    install_docs(app)
    mount_ui(app)  # GET / and its packaged assets (flov7.ui)
    # Last: unknown /api/v1 paths, behind the API key like the rest (edge.py).
    app.include_router(fallback_router(API_PREFIX, requires_key))
    # Added first, so it runs inside the size limit: it only reads bounded bodies.
    app.add_middleware(SurrogateScrubMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.flov7.max_request_bytes)
    app.add_middleware(TrailingSlashMiddleware)
    # Every answer (413s and auth failures included) gets a request id, a log line and
    # its count; only the request-head limit sits outside it.
    app.add_middleware(RequestTelemetryMiddleware)
    app.add_middleware(RequestHeadLimitMiddleware)  # outermost: before anything else
    instrument_app(app)  # FLOV7_OTLP_ENDPOINT: a span per request
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    wiring: _Wiring = app.state.wiring
    settings = wiring.settings or get_settings()
    async with contextlib.AsyncExitStack() as stack:
        database = wiring.database
        if database is None:
            url = settings.flov7.resolved_database_url
            database = await stack.enter_async_context(Database.open(url))
            log.info("Store: %s", redacted_url(url))
        repository = Repository(database)
        backend = wiring.backend
        if backend is None:
            backend = await stack.enter_async_context(open_backend(settings, database=database))
        keys = ApiKeyRing(
            settings.flov7.api_key_list,
            repository,
            allow_unauthenticated=settings.flov7.allow_unauthenticated,
        )
        if not await keys.required():
            log.warning(
                "No API keys configured: %s. Set FLOV7_API_KEYS or run "
                "`flov7 api-key create NAME` to require keys.",
                "anyone can call the API (FLOV7_ALLOW_UNAUTHENTICATED=true)"
                if settings.flov7.allow_unauthenticated
                else "only clients on this machine (loopback) are served",
            )
        app.state.context = ApiContext(
            settings=settings,
            backend=backend,
            runs=RunService(backend, on_started=recorder(repository)),
            repository=repository,
            keys=keys,
            max_wait_seconds=wiring.max_wait_seconds,
        )
        try:
            yield
        finally:
            app.state.context = None
