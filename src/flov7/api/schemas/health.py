"""Health answers: liveness, and Temporal reachability."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["Liveness", "TemporalHealth"]


class Liveness(BaseModel):
    """The process is up and serving."""

    status: str = Field(examples=["ok"])
    version: str = Field(examples=["0.1.0"])
    engine: str | None = Field(
        description="`temporal` or `local`; null while starting.", examples=["temporal"]
    )


class TemporalHealth(BaseModel):
    """Temporal as this process sees it (200 healthy, 503 with `reason` otherwise)."""

    status: str = Field(description="`ok`, `unhealthy` or `disabled`.", examples=["ok"])
    engine: str = Field(examples=["temporal"])
    target: str | None = Field(default=None, examples=["127.0.0.1:7233"])
    namespace: str | None = Field(default=None, examples=["default"])
    task_queue: str | None = Field(default=None, examples=["flov7-workflow-task-queue"])
    embedded_server: bool = False
    reachable: bool = False
    latency_ms: float | None = Field(default=None, description="check_health round trip.")
    worker_running: bool = Field(default=False, description="This process runs a worker.")
    pollers: list[dict[str, Any]] = Field(
        default_factory=list, description="Workers recently polling the task queue."
    )
    reason: str | None = Field(default=None, description="Why it is unhealthy.")
