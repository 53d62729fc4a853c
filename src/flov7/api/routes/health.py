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

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Liveness,
    summary="Liveness",
    operation_id="health",
)
async def liveness(request: Request) -> dict[str, Any]:
    """200 while the process serves requests."""
    context = getattr(request.app.state, "context", None)
    engine = context.backend.engine if context is not None else None
    return {"status": "ok", "version": __version__, "engine": engine}


@router.get(
    "/health/temporal",
    response_model=TemporalHealth,
    responses={503: {"model": ErrorResponse, "description": "Unhealthy: `details` says why"}},
    summary="Temporal health",
    operation_id="health_temporal",
)
async def temporal_health(request: Request) -> Any:
    """Temporal reachable (with the round-trip latency), whether this process runs a
    worker, and the workers polling the task queue. 503 with the reason when Temporal
    is unreachable or nobody polls the task queue."""
    from flov7.api.temporal_backend import TemporalBackend

    context = getattr(request.app.state, "context", None)
    if context is None:
        return error_response(503, "unavailable", "The service is starting or stopping")
    backend = context.backend
    if not isinstance(backend, TemporalBackend):
        return {"status": "disabled", "engine": backend.engine, "reason": None}
    report = await backend.health()
    healthy = report.pop("healthy")
    body = TemporalHealth(status="ok" if healthy else "unhealthy", **report)
    if healthy:
        return body
    return error_response(
        503,
        "temporal_unhealthy",
        str(report["reason"]),
        details=body.model_dump(mode="json"),
    )
