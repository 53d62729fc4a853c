"""The app's shared state: one :class:`ApiContext`, built by the lifespan.

Kept apart from :mod:`flov7.api.deps` so that the auth dependency can reach it without
an import cycle (the context holds the key ring; the key ring's dependency reads the
context).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from flov7.api.errors import ServiceUnavailableError
from flov7.config import Settings
from flov7.runs.contract import ExecutionBackend
from flov7.runs.service import RunService
from flov7.store.repository import Repository

if TYPE_CHECKING:
    from flov7.api.auth import ApiKeyRing

__all__ = ["MAX_WAIT_SECONDS", "ApiContext", "get_context"]

MAX_WAIT_SECONDS = 60.0
"""Longest ``?wait=true`` a request may hold a connection for."""


@dataclass(frozen=True)
class ApiContext:
    """Everything the routes share, built once per app by its lifespan."""

    settings: Settings
    backend: ExecutionBackend
    runs: RunService
    """The run service over :attr:`backend`; starts record each run in the store."""
    repository: Repository
    keys: ApiKeyRing
    max_wait_seconds: float = MAX_WAIT_SECONDS


def get_context(request: Request) -> ApiContext:
    """The app's context; 503 while the app is starting or stopping."""
    context = getattr(request.app.state, "context", None)
    if not isinstance(context, ApiContext):
        raise ServiceUnavailableError("The service is starting or stopping; retry shortly")
    return context
