"""Health: ``/health`` (liveness) and ``/health/temporal`` (the guide's path).

Both are served at the root, without authentication (probes and load balancers do not
carry keys), and again under ``/api/v1/health`` with it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from flov7 import __version__
from flov7.api.errors import error_response
from flov7.api.schemas.common import ErrorResponse
from flov7.api.schemas.health import Liveness, TemporalHealth


async def liveness(request: Request) -> dict[str, Any]:
    """200 while the process serves requests."""
    context = getattr(request.app.state, "context", None)
    engine = context.backend.engine if context is not None else None
    return {"status": "ok", "version": __version__, "engine": engine}


async def temporal_health(request: Request) -> Any:
    """Temporal reachable (with the round-trip latency), whether this process runs a
    worker, and the workers polling the task queue, each marked live when it polled
    within the liveness window (``FLOV7_WORKER_LIVENESS_SECONDS``). 503 with the reason
    when Temporal is unreachable or no live worker polls the task queue; ``disabled``
    on the local engine."""
    context = getattr(request.app.state, "context", None)
    if context is None:
        return error_response(503, "unavailable", "The service is starting or stopping")
    report = await context.backend.health()
    if report.status != "unhealthy":
        return report
    return error_response(
        503,
        "temporal_unhealthy",
        str(report.reason),
        details=report.model_dump(mode="json"),
    )


def build_router(*, operation_prefix: str = "") -> APIRouter:
    """The health routes; mounted twice (root, and under the API prefix), hence the
    operation id prefix that keeps OpenAPI's operation ids unique."""
    router = APIRouter(tags=["health"])
    router.add_api_route(
        "/health",
        liveness,
        methods=["GET"],
        response_model=Liveness,
        summary="Liveness",
        operation_id=f"{operation_prefix}health",
    )
    router.add_api_route(
        "/health/temporal",
        temporal_health,
        methods=["GET"],
        response_model=TemporalHealth,
        responses={503: {"model": ErrorResponse, "description": "Unhealthy: `details` says why"}},
        summary="Temporal health",
        operation_id=f"{operation_prefix}health_temporal",
    )
    return router


router = build_router()
"""At the root, without authentication (the guide's ``/health/temporal``)."""
api_router = build_router(operation_prefix="api_")
"""Under ``/api/v1``, with authentication like every API route."""
