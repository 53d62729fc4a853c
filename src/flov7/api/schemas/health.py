"""Health answers: liveness, and Temporal reachability."""

from __future__ import annotations

from pydantic import BaseModel, Field

from flov7.runs.views import EngineHealth

__all__ = ["Liveness", "TemporalHealth"]


class Liveness(BaseModel):
    """The process is up and serving."""

    status: str = Field(examples=["ok"])
    version: str = Field(examples=["0.1.0"])
    engine: str | None = Field(
        description="`temporal` or `local`; null while starting.", examples=["temporal"]
    )


TemporalHealth = EngineHealth
"""Temporal as this process sees it (200 healthy or disabled, 503 with `reason`)."""
