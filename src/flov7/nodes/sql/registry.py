"""One SQLAlchemy :class:`~sqlalchemy.ext.asyncio.AsyncEngine` per database connection.

A worker shares one :class:`DatabaseRegistry` between all ``database`` nodes (it is a
:meth:`NodeResources.shared` resource), so connection pools and reflected metadata
survive from one node run to the next. Engines are created on first use (a worker
that never runs a database node opens no connection) and disposed by :meth:`aclose`.

A connection name refers to a configured database (``FLOV7_DATABASE_<NAME>``) or, when
there is none by that name, to a ``database`` credential.

Read-only connections are enforced by the database too, for the whole session:
PostgreSQL ``default_transaction_read_only``, MySQL/MariaDB ``SET SESSION TRANSACTION
READ ONLY``, SQLite ``PRAGMA query_only``. :func:`begin` adds the per-transaction form
where there is one.

Pooled connections are reset when they return to the pool, so nothing one node run sets
in its session (settings such as ``search_path``, advisory or named locks, temporary
tables, prepared statements, user variables) reaches a later, unrelated run: PostgreSQL
runs ``DISCARD ALL``, MySQL/MariaDB get a connection reset (``COM_RESET_CONNECTION``,
then the session's read-only mode again). A connection whose reset fails is closed, not
reused.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolResetState
from sqlalchemy.util import await_only

from flov7.errors import NodeExecutionError
from flov7.nodes.credentials import DatabaseCredential
from flov7.nodes.sql.schema import TableCatalog
from flov7.nodes.sql.urls import AsyncDatabaseUrl, to_async_url

if TYPE_CHECKING:
    from flov7.nodes.resources import NodeResources

__all__ = ["Database", "DatabaseRegistry", "begin"]

CONNECT_TIMEOUT_SECONDS = 10
"""How long opening a connection may take before the attempt fails (and is retried)."""

POOL_SIZE = 5
"""Connections kept open per database and worker (plus up to as many overflow ones)."""

MYSQL_READ_ONLY_SESSION = "SET SESSION TRANSACTION READ ONLY"
_COM_RESET_CONNECTION = 0x1F
"""MySQL protocol command (MySQL 5.7.3+, MariaDB 10.2.4+): reset the session's state."""


@dataclass
class Database:
    """A resolved connection: its engine, whether it is read-only, its table cache."""

    name: str
    engine: AsyncEngine
    read_only: bool
    backend: str
    """``postgresql``, ``mysql`` or ``sqlite``."""
    catalog: TableCatalog = field(default_factory=TableCatalog)


class DatabaseRegistry:
    """Engines per connection name, created lazily; ``await aclose()`` disposes them."""

    def __init__(self, resources: NodeResources) -> None:
        self._resources = resources
        self._databases: dict[str, Database] = {}

    def resolve_name(self, name: str | None) -> str:
        """The connection a node means: ``name``, else the default, else the only one.

        Raises a non-retryable error saying what to configure when it cannot tell.
        """
        settings = self._resources.settings
        if name:
            return name
        if settings.default_database:
            return settings.default_database
        configured = sorted(settings.databases)
        if len(configured) == 1:
            return configured[0]
        if not configured:
            raise NodeExecutionError(
                "No database is configured: set FLOV7_DATABASE_<NAME>=<url> (or "
                "FLOV7_DATABASES) on the worker, or name a 'database' credential in "
                "'connection'",
                error_type="DatabaseConfigError",
                retryable=False,
            )
        raise NodeExecutionError(
            f"Several databases are configured ({', '.join(configured)}): set "
            "'connection' on the node or FLOV7_DEFAULT_DATABASE on the worker",
            error_type="DatabaseConfigError",
            retryable=False,
        )

    async def get(self, name: str | None) -> Database:
        """The database for connection ``name`` (see :meth:`resolve_name`)."""
        resolved = self.resolve_name(name)
        key = resolved.strip().lower()
        database = self._databases.get(key)
        if database is None:
            # Creating an engine does not await (it connects on first use), so two first
            # runs at once cannot both get here and build two pools.
            database = self._databases[key] = self._create(resolved)
        return database

    async def aclose(self) -> None:
        """Dispose every engine (closes pooled connections)."""
        databases, self._databases = list(self._databases.values()), {}
        for database in databases:
            await database.engine.dispose()

    def _create(self, name: str) -> Database:
        url, read_only = self._lookup(name)
        target = to_async_url(url)
        engine = _engine(target, read_only=read_only)
        return Database(name=name, engine=engine, read_only=read_only, backend=target.backend)

    def _lookup(self, name: str) -> tuple[str, bool]:
        databases = {
            key.lower(): value for key, value in self._resources.settings.databases.items()
        }
        configured = databases.get(name.strip().lower())
        if configured is not None:
            return configured.url.get_secret_value(), configured.read_only
        credentials = self._resources.credentials
        if name.strip().lower() in credentials.names():
            credential = credentials.get(name, DatabaseCredential)
            return credential.url.get_secret_value(), credential.read_only
        known = ", ".join(sorted(databases)) or "none"
        raise NodeExecutionError(
            f"Unknown database connection {name!r}; configured databases: {known} (set "
            f"FLOV7_DATABASE_{name.strip().upper()}=<url> on the worker, or a 'database' "
            "credential of that name)",
            error_type="DatabaseConfigError",
            retryable=False,
        )


def _engine(target: AsyncDatabaseUrl, *, read_only: bool) -> AsyncEngine:
    connect_args = dict(target.connect_args)
    options: dict[str, Any] = {"pool_pre_ping": True}
    if target.backend == "postgresql":
        connect_args.setdefault("timeout", CONNECT_TIMEOUT_SECONDS)
        # DISCARD ALL (on return to the pool) drops prepared statements too: neither
        # SQLAlchemy nor asyncpg may keep named ones across uses of a connection.
        connect_args["prepared_statement_cache_size"] = 0
        connect_args["statement_cache_size"] = 0
        if read_only:
            server_settings = dict(connect_args.get("server_settings", {}))
            server_settings["default_transaction_read_only"] = "on"
            connect_args["server_settings"] = server_settings
    elif target.backend == "mysql":
        connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
        if read_only:
            connect_args["init_command"] = MYSQL_READ_ONLY_SESSION
        # MySQL closes idle connections after wait_timeout (8 h by default).
        options["pool_recycle"] = 3600
    if target.backend != "sqlite":
        options.update(pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
    engine = create_async_engine(target.url, connect_args=connect_args, **options)
    if target.backend == "sqlite":
        _on_sqlite_connect(engine, read_only=read_only)
    else:
        _reset_on_return(engine, target.backend, read_only=read_only)
    return engine


def _reset_on_return(engine: AsyncEngine, backend: str, *, read_only: bool) -> None:
    @event.listens_for(engine.sync_engine, "reset")
    def _reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
        # Runs on check-in, inside SQLAlchemy's greenlet bridge (await_only is allowed);
        # raising here makes the pool close the connection instead of reusing it.
        if state.terminate_only or not state.asyncio_safe:
            return  # being closed anyway (or garbage-collected: no I/O possible)
        # DISCARD ALL cannot run inside a transaction block: end whatever is open.
        dbapi_connection.rollback()
        raw = dbapi_connection.driver_connection
        if backend == "postgresql":
            await_only(raw.execute("DISCARD ALL"))
        elif backend == "mysql":
            await_only(_reset_mysql_session(raw, read_only=read_only))


async def _reset_mysql_session(raw: Any, *, read_only: bool) -> None:
    # aiomysql has no public reset: send the protocol command as its own methods do.
    await raw._execute_command(_COM_RESET_CONNECTION, b"")
    await raw._read_ok_packet()
    # The reset restores the server's defaults: the connection's character set (MySQL
    # resets it, MariaDB keeps it), autocommit as the driver expects it, and the
    # read-only session of a read-only connection.
    await raw.set_charset(raw.charset)
    await raw._send_autocommit_mode()
    if read_only:
        async with raw.cursor() as cursor:
            await cursor.execute(MYSQL_READ_ONLY_SESSION)


def _on_sqlite_connect(engine: AsyncEngine, *, read_only: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # Wait for a writer instead of failing at once with "database is locked".
        cursor.execute("PRAGMA busy_timeout = 5000")
        if read_only:
            cursor.execute("PRAGMA query_only = ON")
        cursor.close()


@contextlib.asynccontextmanager
async def begin(database: Database) -> AsyncIterator[AsyncConnection]:
    """A connection inside one transaction: committed on success, rolled back on error.

    On a read-only database the transaction itself is declared read-only as well (the
    session already is; this also holds if the session setting were ever lost).
    """
    async with database.engine.connect() as conn:
        if database.read_only and database.backend == "mysql":
            # Opens the transaction explicitly; commit/rollback below ends it.
            await conn.execute(text("START TRANSACTION READ ONLY"))
        elif database.read_only and database.backend == "postgresql":
            await conn.execute(text("SET TRANSACTION READ ONLY"))
        try:
            yield conn
        except BaseException:
            # A failed rollback (dead connection) must not hide the original error.
            with contextlib.suppress(Exception):
                await conn.rollback()
            raise
        await conn.commit()
