"""API fixtures: the app wired to the session's Temporal dev server, a store, an HTTP client.

``api`` is an ``httpx.AsyncClient`` talking to the app in-process (ASGI transport, from a
loopback address), with the app's lifespan running. The app runs workflows on the
``flov7_worker`` task queue, with the Flov7 search attributes registered on the dev
server, and keeps its store in a SQLite file of the session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from api_support import api_settings, client_for, running_app
from fastapi import FastAPI
from temporalio.client import Client

from flov7.api.temporal_backend import TemporalBackend
from flov7.config import TemporalSettings
from flov7.store.database import Database
from flov7.temporal.search_attributes import register_search_attributes


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def search_attributes(temporal_client: Client) -> None:
    """The Flov7 search attributes, registered on the session's dev server."""
    await register_search_attributes(temporal_client)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def api_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    """The API tests' store: a migrated SQLite file."""
    path = tmp_path_factory.mktemp("api-store") / "flov7.db"
    async with Database.open(f"sqlite+aiosqlite:///{path}") as database:
        yield database


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def api_backend(
    temporal_client: Client, flov7_worker: TemporalSettings, search_attributes: None
) -> TemporalBackend:
    """A Temporal backend on the ``flov7_worker`` task queue."""
    return TemporalBackend(flov7_worker, client=temporal_client)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def api_app(
    api_backend: TemporalBackend,
    api_database: Database,
    flov7_worker: TemporalSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[FastAPI]:
    """The app (lifespan running), without API keys."""
    settings = api_settings(flov7_worker, tmp_path_factory.mktemp("api-data"))
    async with running_app(settings, backend=api_backend, database=api_database) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def api(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app, from the loopback."""
    async with client_for(api_app) as client:
        yield client
