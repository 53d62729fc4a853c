"""API fixtures: the app on either engine, a store, an HTTP client.

``api`` is an ``httpx.AsyncClient`` talking to the app in-process (ASGI transport, from a
loopback address), with the app's lifespan running. It is parametrized over the
``engine``: every test that asks for it runs twice, against

- ``temporal``: the session's Temporal dev server, runs on the ``flov7_worker`` task
  queue, with the Flov7 search attributes registered;
- ``local``: the in-process local runtime (``ENABLE_TEMPORAL_FEATURES=false``), whose
  run records share the store.

Both keep their store in one SQLite file of the session. Tests about Temporal itself
(search attributes, raw Temporal events, workers, health) use ``temporal_api``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from api_support import Engine, api_settings, client_for, running_app
from fastapi import FastAPI
from temporalio.client import Client

from flov7.config import NodeSettings, TemporalSettings
from flov7.local.backend import LocalBackend
from flov7.store.database import Database
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.search_attributes import register_search_attributes

ENGINES = ("temporal", "local")


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
async def local_backend(
    api_database: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LocalBackend]:
    """The local runtime's backend, recording its runs in the API tests' store.

    Outbound HTTP to 127.0.0.1 is allowed for the test servers, as on the worker.
    """
    settings = api_settings(
        TemporalSettings(),
        tmp_path_factory.mktemp("local-data"),
        nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"),
        enable_temporal_features=False,
    )
    async with LocalBackend(settings, database=api_database) as backend:
        yield backend


@pytest.fixture(scope="session", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The engine of the test: ``temporal`` or ``local``."""
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def api_engine(engine: str, request: pytest.FixtureRequest) -> Engine:
    """The backend (and settings) of :func:`engine`; only that engine is started."""
    if engine == "temporal":
        return Engine(
            "temporal",
            request.getfixturevalue("api_backend"),
            request.getfixturevalue("flov7_worker"),
            request.getfixturevalue("temporal_client"),
        )
    return Engine("local", request.getfixturevalue("local_backend"), TemporalSettings())


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def api_app(
    api_engine: Engine, api_database: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    """The app on :func:`engine` (lifespan running), without API keys."""
    settings = api_engine.settings(tmp_path_factory.mktemp("api-data"))
    async with running_app(settings, backend=api_engine.backend, database=api_database) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def api(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app on :func:`engine`, from the loopback."""
    async with client_for(api_app) as client:
        yield client


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_app(
    api_backend: TemporalBackend,
    api_database: Database,
    flov7_worker: TemporalSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[FastAPI]:
    """The app on Temporal only (lifespan running), without API keys."""
    settings = api_settings(flov7_worker, tmp_path_factory.mktemp("temporal-api-data"))
    async with running_app(settings, backend=api_backend, database=api_database) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def temporal_api(temporal_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app on Temporal, for tests about Temporal itself."""
    async with client_for(temporal_app) as client:
        yield client
