"""``GET /metrics``: this process's Prometheus metrics (:mod:`flov7.observability.metrics`).

Open like ``/health`` (scrapers seldom carry keys, and the metrics hold no payloads,
ids or secrets); ``FLOV7_METRICS_REQUIRE_KEY=true`` makes it ask for an API key as
the ``/api/v1`` routes do (``Authorization: Bearer`` or ``X-API-Key``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from flov7.api.auth import require_api_key
from flov7.api.context import get_context
from flov7.observability.metrics import CONTENT_TYPE, render

__all__ = ["router"]

router = APIRouter(tags=["health"])

_bearer = HTTPBearer(auto_error=False)
_header = APIKeyHeader(name="X-API-Key", auto_error=False)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> Response:
    """Counters and histograms of runs, nodes, API requests and worker slots."""
    settings = request.app.state.wiring.settings
    if settings is not None and settings.flov7.metrics_require_key:
        get_context(request)  # 503 while starting: keys are not known yet
        await require_api_key(request, bearer, header_key)
    return Response(render(), media_type=CONTENT_TYPE)
