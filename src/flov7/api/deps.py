"""Typed FastAPI dependencies: what a route can ask for.

The app's lifespan builds one :class:`ApiContext` (settings, backend, repository, keys)
and keeps it on ``app.state``; routes take the parts they need as annotated
parameters (``backend: BackendDep``), which also keeps them easy to read and to test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from flov7.api.auth import ApiKeyRing
from flov7.api.backend import ExecutionBackend
from flov7.api.errors import ServiceUnavailableError
from flov7.config import Settings
from flov7.store.repository import Repository

__all__ = [
    "ApiContext",
    "BackendDep",
    "ContextDep",
    "RepositoryDep",
    "get_context",
]

MAX_WAIT_SECONDS = 60.0
"""Longest ``?wait=true`` a request may hold a connection for."""


@dataclass(frozen=True)
class ApiContext:
    """Everything the routes share, built once per app by its lifespan."""

    settings: Settings
    backend: ExecutionBackend
    repository: Repository
    keys: ApiKeyRing
    max_wait_seconds: float = MAX_WAIT_SECONDS


def get_context(request: Request) -> ApiContext:
    """The app's context; 503 while the app is starting or stopping."""
    context = getattr(request.app.state, "context", None)
    if not isinstance(context, ApiContext):
        raise ServiceUnavailableError("The service is starting or stopping; retry shortly")
    return context


def get_backend(request: Request) -> ExecutionBackend:
    """The execution backend (Temporal or local)."""
    return get_context(request).backend


def get_repository(request: Request) -> Repository:
    """The store's repository."""
    return get_context(request).repository


ContextDep = Annotated[ApiContext, Depends(get_context)]
BackendDep = Annotated[ExecutionBackend, Depends(get_backend)]
RepositoryDep = Annotated[Repository, Depends(get_repository)]
