"""Store fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL is the server on 127.0.0.1:5432 (user ``postgres``, trust auth; override with
``FLOV7_TEST_POSTGRES_URL``). Each session creates its own uniquely named database and
drops it at the end, so parallel sessions and other suites sharing the server never
see each other's tables. Without a reachable server the PostgreSQL cases are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg  # type: ignore[import-untyped]
import pytest
import pytest_asyncio
from sqlalchemy import make_url

from flov7.store.database import Database
from flov7.store.repository import Repository

ADMIN_URL = os.environ.get("FLOV7_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

NewDatabase = Callable[[], Awaitable[str]]


def _asyncpg_dsn(database: str | None = None) -> str:
    url = make_url(ADMIN_URL).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def _sqlalchemy_url(database: str) -> str:
    url = make_url(ADMIN_URL).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


class PostgresDatabases:
    """Creates uniquely named databases on the server; drops them all at the end."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.unavailable: str | None = None

    async def create(self) -> str:
        name = f"flov7_test_{uuid.uuid4().hex[:12]}"
        connection = await asyncpg.connect(_asyncpg_dsn(), timeout=5)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        self.created.append(name)
        return _sqlalchemy_url(name)

    async def drop_all(self) -> None:
        if not self.created:
            return
        connection = await asyncpg.connect(_asyncpg_dsn(), timeout=5)
        try:
            for name in self.created:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres() -> AsyncIterator[PostgresDatabases]:
    """The PostgreSQL databases of this session (``unavailable`` says why if none)."""
    databases = PostgresDatabases()
    try:
        connection = await asyncpg.connect(_asyncpg_dsn(), timeout=5)
        await connection.close()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        databases.unavailable = (
            f"PostgreSQL at {make_url(ADMIN_URL).render_as_string()} unavailable: {exc}"
        )
    yield databases
    await databases.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(
    request: pytest.FixtureRequest,
    postgres: PostgresDatabases,
    tmp_path_factory: pytest.TempPathFactory,
) -> NewDatabase:
    """``await new_database()`` -> the URL of a new, empty database of the backend."""

    async def make() -> str:
        if request.param == "sqlite":
            path = tmp_path_factory.mktemp("store") / "flov7.db"
            return f"sqlite+aiosqlite:///{path}"
        if postgres.unavailable:
            pytest.skip(postgres.unavailable)
        return await postgres.create()

    return make


@pytest_asyncio.fixture(scope="session", loop_scope="session", params=["sqlite", "postgresql"])
async def database(
    request: pytest.FixtureRequest,
    postgres: PostgresDatabases,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Database]:
    """A migrated store shared by the session's tests (they use unique ids)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('store') / 'flov7.db'}"
    else:
        if postgres.unavailable:
            pytest.skip(postgres.unavailable)
        url = await postgres.create()
    async with Database.open(url) as opened:
        yield opened


@pytest.fixture
def repository(database: Database) -> Repository:
    """The repository over :func:`database`."""
    return Repository(database)
