"""Real databases for the ``database`` node tests: SQLite, PostgreSQL and MariaDB/MySQL.

Each test gets a fresh, uniquely named place to work in and leaves nothing behind:

- SQLite: a file in the test's ``tmp_path``;
- PostgreSQL (``127.0.0.1:5432``, database ``test``, trust auth): a schema
  ``flov7_t_<random>``, made the connection's ``search_path`` through the URL's libpq
  ``options`` (which also exercises that URL translation);
- MariaDB/MySQL (``127.0.0.1:3306``, root, no password): a database ``flov7_t_<random>``.

A server that does not answer fails its tests with the command that starts it: the
suite needs both (the README says so), and a silently skipped backend proves nothing.

Import the fixtures explicitly: ``from nodes.db_fixtures import db, db_resources, ...``.
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from flov7.nodes.base import ActivityContext, get_node_type
from flov7.nodes.resources import NodeResources
from flov7.nodes.settings import NodeSettings

PG_HOST = "127.0.0.1:5432"
MYSQL_HOST = "127.0.0.1:3306"
BACKENDS = ("sqlite", "postgresql", "mysql")

# Portable enough DDL for the tables most tests use, per backend.
_DDL: dict[str, list[str]] = {
    "postgresql": [
        "CREATE TABLE users (id SERIAL PRIMARY KEY, name VARCHAR(100) NOT NULL, "
        "email VARCHAR(200) UNIQUE, age INTEGER, balance NUMERIC(12, 2), born DATE, "
        "created_at TIMESTAMP, active BOOLEAN, avatar BYTEA, token UUID, "
        "score DOUBLE PRECISION)",
        "CREATE TABLE events (kind VARCHAR(50), payload VARCHAR(200))",
    ],
    "mysql": [
        "CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, "
        "email VARCHAR(200) UNIQUE, age INT, balance NUMERIC(12, 2), born DATE, "
        "created_at DATETIME(6), active BOOLEAN, avatar BLOB, token CHAR(36), score DOUBLE)",
        "CREATE TABLE events (kind VARCHAR(50), payload VARCHAR(200))",
    ],
    "sqlite": [
        "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(100) NOT NULL, "
        "email VARCHAR(200) UNIQUE, age INTEGER, balance NUMERIC(12, 2), born DATE, "
        "created_at TIMESTAMP, active BOOLEAN, avatar BLOB, token VARCHAR(36), score REAL)",
        "CREATE TABLE events (kind VARCHAR(50), payload VARCHAR(200))",
    ],
}


def _answers(host_port: str) -> bool:
    host, port = host_port.split(":")
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
        return True
    return False


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class TestDatabase:
    """One test's private database on one backend."""

    __test__ = False  # Not a test class, despite the name.

    backend: str
    url: str
    """The URL to configure Flov7 with (plain scheme: mapped to the async driver)."""
    namespace: str
    """Schema (PostgreSQL), database (MySQL) or ``main`` (SQLite) holding the tables."""
    admin: AsyncEngine
    extra: dict[str, Any] = field(default_factory=dict)

    async def run(self, *statements: str, **params: Any) -> list[dict[str, Any]]:
        """Run setup/inspection SQL outside Flov7; the last statement's rows, if any."""
        rows: list[dict[str, Any]] = []
        async with self.admin.begin() as conn:
            for statement in statements:
                result = await conn.execute(text(statement), params)
                rows = [dict(row._mapping) for row in result] if result.returns_rows else []
        return rows

    async def create_tables(self) -> None:
        """``users`` (with a primary key and one column per interesting type), ``events``."""
        await self.run(*_DDL[self.backend])

    def qualified(self, table: str) -> str:
        """``namespace.table``."""
        return f"{self.namespace}.{table}"


@pytest_asyncio.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TestDatabase]:
    """A fresh database on each backend (the test runs three times)."""
    backend: str = request.param
    async with _database(backend, tmp_path) as database:
        yield database


@pytest_asyncio.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[TestDatabase]:
    """A fresh SQLite database only."""
    async with _database("sqlite", tmp_path) as database:
        yield database


@pytest_asyncio.fixture
async def pg_db(tmp_path: Path) -> AsyncIterator[TestDatabase]:
    """A fresh PostgreSQL schema only."""
    async with _database("postgresql", tmp_path) as database:
        yield database


@pytest_asyncio.fixture
async def mysql_db(tmp_path: Path) -> AsyncIterator[TestDatabase]:
    """A fresh MariaDB/MySQL database only."""
    async with _database("mysql", tmp_path) as database:
        yield database


@contextlib.asynccontextmanager
async def _database(backend: str, tmp_path: Path) -> AsyncIterator[TestDatabase]:
    name = f"flov7_t_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        path = tmp_path / "test.db"
        admin = create_async_engine(f"sqlite+aiosqlite:///{path}")
        try:
            yield TestDatabase("sqlite", f"sqlite:///{path}", "main", admin)
        finally:
            await admin.dispose()
        return
    if backend == "postgresql":
        if not _answers(PG_HOST):
            pytest.fail(
                f"PostgreSQL does not answer on {PG_HOST}; start it with "
                "'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'"
            )
        admin = create_async_engine(
            f"postgresql+asyncpg://postgres@{PG_HOST}/test",
            connect_args={"server_settings": {"search_path": name}},
        )
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        url = f"postgresql://postgres@{PG_HOST}/test?options=-csearch_path%3D{name}"
        try:
            yield TestDatabase("postgresql", url, name, admin)
        finally:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
            await admin.dispose()
        return
    if not _answers(MYSQL_HOST):
        pytest.fail(
            f"MariaDB/MySQL does not answer on {MYSQL_HOST}; start it with "
            "'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd'"
        )
    server = create_async_engine(f"mysql+aiomysql://root@{MYSQL_HOST}/")
    async with server.begin() as conn:
        await conn.execute(text(f"CREATE DATABASE `{name}`"))
    admin = create_async_engine(f"mysql+aiomysql://root@{MYSQL_HOST}/{name}")
    try:
        yield TestDatabase("mysql", f"mysql://root@{MYSQL_HOST}/{name}", name, admin)
    finally:
        await admin.dispose()
        async with server.begin() as conn:
            await conn.execute(text(f"DROP DATABASE `{name}`"))
        await server.dispose()


def database_settings(url: str, **extra: Any) -> NodeSettings:
    """Settings with two connections to ``url``: ``main`` (default) and ``readonly``."""
    return NodeSettings.from_values(
        databases={"main": {"url": url}, "readonly": {"url": url, "read_only": True}},
        default_database="main",
        **extra,
    )


@pytest.fixture
def no_env(clean_env: Path) -> Iterator[None]:
    """No FLOV7_* variable or .env from the machine leaks into NodeSettings."""
    yield


@pytest_asyncio.fixture
async def db_resources(db: TestDatabase, no_env: None) -> AsyncIterator[NodeResources]:
    """Real node resources configured with ``db`` as ``main`` and ``readonly``."""
    async with NodeResources.open(database_settings(db.url)) as opened:
        yield opened


async def run_database_node(
    resources: NodeResources, config: dict[str, Any], *, attempt: int = 1
) -> Any:
    """Validate ``config`` and run the database node once, as an activity would."""
    node = get_node_type("database")
    assert node is not None
    context = ActivityContext(
        workflow_id="wf-test",
        run_id="run-test",
        node_id="db",
        attempt=attempt,
        heartbeat=lambda *details: None,
        resources=resources,
        extras={"execution": {}},
    )
    return await node.execute(node.parse_config(config), context)
