"""Helpers of the API tests: apps, clients, documents, polling."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from flov7.api.app import create_app
from flov7.config import Flov7Settings, NodeSettings, Settings, TemporalSettings
from flov7.nodes import registry as node_registry
from flov7.nodes.base import NodeType
from flov7.runs.contract import ExecutionBackend
from flov7.store.database import Database

API = "/api/v1"
WAIT = {"wait": "true", "timeout": "60"}
"""Query of an execute that waits for the result (as long as the API allows)."""


def api_settings(
    temporal: TemporalSettings,
    data_dir: Path,
    *,
    nodes: NodeSettings | None = None,
    **flov7: Any,
) -> Settings:
    """Settings for a test app: the given Temporal (and node) settings, defaults elsewhere."""
    return Settings(
        temporal=temporal,
        flov7=Flov7Settings(_env_file=None, data_dir=data_dir, **flov7),
        nodes=nodes if nodes is not None else NodeSettings.from_values(),
    )


@dataclass(frozen=True)
class Engine:
    """One engine the API tests run against."""

    name: str
    backend: ExecutionBackend
    temporal: TemporalSettings
    """The Temporal settings of the app (unused by the local engine)."""
    client: Client | None = None
    """The Temporal client (None on the local engine)."""

    def settings(self, data_dir: Path, **flov7: Any) -> Settings:
        """App settings for this engine, data in ``data_dir``."""
        return api_settings(
            self.temporal, data_dir, enable_temporal_features=self.name == "temporal", **flov7
        )


def only_on(engine: str) -> pytest.MarkDecorator:
    """Run a test that asks for ``engine`` (or a fixture built on it) on one engine."""
    return pytest.mark.parametrize("engine", [engine], indirect=True)


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings,
    *,
    backend: ExecutionBackend,
    database: Database,
    max_wait_seconds: float = 60.0,
) -> AsyncIterator[FastAPI]:
    """An app with its lifespan started (ASGI transports do not run lifespans)."""
    app = create_app(
        settings, backend=backend, database=database, max_wait_seconds=max_wait_seconds
    )
    async with app.router.lifespan_context(app):
        yield app


def client_for(
    app: FastAPI, *, client: tuple[str, int] = ("127.0.0.1", 50000)
) -> httpx.AsyncClient:
    """An HTTP client of ``app`` as seen from ``client`` (host, port)."""
    transport = httpx.ASGITransport(app=app, client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://flov7.test", timeout=90)


async def eventually(
    probe: Callable[[], Awaitable[Any]],
    *,
    within: float = 30.0,
    interval: float = 0.2,
) -> Any:
    """Call ``probe`` until it returns something truthy (visibility lags ~1 s)."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s (last: {value!r})")
        await asyncio.sleep(interval)


@contextlib.contextmanager
def registered_node_type(node_type: NodeType) -> Iterator[NodeType]:
    """Register a test-only node type for the duration of the block, so that other
    tests see the built-ins only."""
    node_registry.register(node_type)
    try:
        yield node_type
    finally:
        node_registry.unregister(node_type.name)


def document(
    *nodes: dict[str, Any], edges: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """A workflow document with a fresh unique id."""
    return {
        "id": extra.pop("id", f"wf-{uuid.uuid4().hex[:10]}"),
        "nodes": list(nodes),
        "edges": edges or [],
        **extra,
    }


def transform(node_id: str, **mapping: str) -> dict[str, Any]:
    """A transform node mapping output keys to expressions."""
    return {"id": node_id, "type": "transform", "data": {"mapping": mapping or {"ok": "true"}}}


def delay(node_id: str, seconds: float) -> dict[str, Any]:
    """A delay node."""
    return {"id": node_id, "type": "delay", "data": {"delay_seconds": seconds}}


def chain(*node_ids: str) -> list[dict[str, Any]]:
    """Edges linking the nodes in order."""
    return [
        {"id": f"e{index}", "source": source, "target": target}
        for index, (source, target) in enumerate(itertools.pairwise(node_ids))
    ]
