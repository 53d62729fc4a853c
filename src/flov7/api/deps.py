"""Typed FastAPI dependencies: what a route can ask for.

The app's lifespan builds one :class:`~flov7.api.context.ApiContext` (settings, backend,
repository, keys) and keeps it on ``app.state``; routes take the parts they need as
annotated parameters (``backend: BackendDep``), which keeps them short and testable.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from flov7.api.context import MAX_WAIT_SECONDS, ApiContext, get_context
from flov7.runs.contract import ExecutionBackend
from flov7.store.repository import Repository

__all__ = [
    "MAX_WAIT_SECONDS",
    "ApiContext",
    "BackendDep",
    "ContextDep",
    "RepositoryDep",
    "get_context",
]


def get_backend(request: Request) -> ExecutionBackend:
    """The execution backend (Temporal or local)."""
    return get_context(request).backend


def get_repository(request: Request) -> Repository:
    """The store's repository."""
    return get_context(request).repository


ContextDep = Annotated[ApiContext, Depends(get_context)]
BackendDep = Annotated[ExecutionBackend, Depends(get_backend)]
RepositoryDep = Annotated[Repository, Depends(get_repository)]
