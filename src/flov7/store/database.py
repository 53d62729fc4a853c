"""The store's database: an async SQLAlchemy engine, migrated to the latest schema at open.

SQLite (a file in the data directory) by default, PostgreSQL by URL
(``FLOV7_DATABASE_URL``). :meth:`Database.open` runs the Alembic migrations shipped in
:mod:`flov7.store.migrations` before anything else touches the tables, so a new
release upgrades the schema on its first start, and several processes sharing one
database (``flov7 serve``, ``flov7 api-key create``) agree on it.

Example::

    async with Database.open("sqlite+aiosqlite:///.flov7/flov7.db") as database:
        repository = Repository(database)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from flov7.errors import Flov7Error
from flov7.store.write_batches import WriteBatcher, writing
from flov7.unicode_safety import scrub_value

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["Database", "StoreError", "alembic_config", "redacted_url"]

# Any constant will do: it only has to be the same in every Flov7 process.
_MIGRATION_LOCK_KEY = 0x666C6F7637  # "flov7"
# The execution option that marks a read-only session's connections.
_READ_ONLY = "flov7_read_only"


class StoreError(Flov7Error):
    """The store cannot be opened or migrated (the message says which database)."""


def redacted_url(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say nothing of it
        return "<invalid database URL>"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code (no ``alembic.ini``), on the packaged migrations."""
    with _quiet_alembic():
        # Imported here: alembic logs its plugin setup at import, at INFO.
        from alembic.config import Config
    config = Config()
    config.set_main_option("script_location", "flov7.store:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


class Database:
    """An open store database: the engine and a session factory.

    Build it with :meth:`open` (an async context manager), or :meth:`connect` and later
    :meth:`close`.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(
            engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )
        # SQLite has one writer at a time. Writers of this process queue here rather
        # than in SQLite's busy handler, which sleeps in growing steps (up to 100 ms)
        # and, under a few concurrent API requests, costs more than the writes.
        # Other processes still meet SQLite's lock (the busy timeout covers them).
        self._write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
        self._write_locks = weakref.WeakKeyDictionary()
        self.batched_writes = WriteBatcher(self)
        """Small independent writes of concurrent callers, one transaction for many."""

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @classmethod
    async def connect(cls, url: str, *, migrate: bool = True) -> Database:
        """Create the engine and (by default) migrate the schema to the latest revision.

        Raises :class:`StoreError` when the database cannot be reached or migrated.
        """
        engine = _create_engine(url)
        database = cls(engine)
        try:
            if migrate:
                await database.upgrade()
        except (SQLAlchemyError, OSError) as exc:
            await engine.dispose()
            raise StoreError(
                f"Cannot open the Flov7 store at {redacted_url(url)}: {exc}. "
                "Check FLOV7_DATABASE_URL (or FLOV7_DATA_DIR for the default SQLite file)."
            ) from exc
        return database

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, *, migrate: bool = True) -> AsyncIterator[Database]:
        """:meth:`connect`, and :meth:`close` on exit."""
        database = await cls.connect(url, migrate=migrate)
        try:
            yield database
        finally:
            await database.close()

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    async def upgrade(self, revision: str = "head") -> None:
        """Run the migrations up to ``revision`` (idempotent)."""
        await self._migrate(_upgrade, revision)

    async def downgrade(self, revision: str = "base") -> None:
        """Undo migrations down to ``revision`` (tests and manual rollbacks)."""
        await self._migrate(_downgrade, revision)

    async def _migrate(self, step: Callable[[Connection, str], None], revision: str) -> None:
        # Alembic keeps its migration context in module globals: two migrations in one
        # process must not interleave (each runs in a greenlet that yields on I/O).
        async with _migration_lock(), self.engine.connect() as connection:
            # One transaction around the whole migration, taken exclusively, so
            # that another process migrating the same database waits, then finds
            # the schema up to date (SQLite: BEGIN IMMEDIATE, see _create_engine).
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": _MIGRATION_LOCK_KEY},
                )
            else:
                await connection.execute(text("SELECT 1"))
            await connection.run_sync(step, revision)
            await connection.commit()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that may write, committed on success and rolled
        back on error. Keep it short: on SQLite, this process's writers wait for it.
        Never open one inside another (or write through :attr:`batched_writes` inside
        one): on SQLite that would wait for itself, so it raises ``RuntimeError``."""
        if writing.get():
            raise RuntimeError("a write session inside a write session would wait for itself")
        token = writing.set(True)
        try:
            async with self._writer(), self.sessions.begin() as session:
                yield session
        finally:
            writing.reset(token)

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads: on SQLite it neither takes nor waits for the write
        lock (in WAL mode readers see the last commit while a writer works)."""
        async with self.read_sessions.begin() as session:
            yield session

    def _writer(self) -> contextlib.AbstractAsyncContextManager[object]:
        if self.dialect != "sqlite":
            return contextlib.nullcontext()
        loop = asyncio.get_running_loop()
        lock = self._write_locks.get(loop)
        if lock is None:
            lock = self._write_locks[loop] = asyncio.Lock()
        return lock


def _upgrade(connection: Connection, revision: str) -> None:
    with _quiet_alembic():
        from alembic import command

        command.upgrade(alembic_config(connection), revision)


def _downgrade(connection: Connection, revision: str) -> None:
    with _quiet_alembic():
        from alembic import command

        command.downgrade(alembic_config(connection), revision)


@contextlib.contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic narrates every step at INFO; for a service migrating itself at each start
    that is noise. Its warnings and errors still show."""
    logger = logging.getLogger("alembic")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def _create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    # A pooled server connection can die (a restart, an idle timeout): ping it before
    # use. A SQLite connection is a file handle: the ping would only cost a round trip.
    options: dict[str, Any] = {"pool_pre_ping": parsed.get_backend_name() != "sqlite"}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Wait for another writer (the CLI, another worker) instead of failing at once.
        options["connect_args"] = {"timeout": 15}
    # JSON columns: lone surrogates become U+FFFD, as at the API edge (unicode_safety).
    options["json_serializer"] = _json_text
    engine = create_async_engine(url, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    event.listen(engine.sync_engine, "before_cursor_execute", _safe_parameters, retval=True)
    return engine


def _json_text(value: Any) -> str:
    return json.dumps(scrub_value(value))


def _safe_parameters(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    # Text columns: a lone surrogate (a workflow name, an error message quoting user
    # data) would make the driver's UTF-8 encoding fail the whole write, and the run's
    # record with it. Replaced like everywhere else; parameters without one pass as is.
    return statement, scrub_value(parameters)


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # The sqlite3 driver opens transactions itself, lazily and only before DML: DDL
    # would autocommit statement by statement. Take that over (SQLAlchemy's documented
    # recipe) so that a transaction covers everything, migrations included.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers never block the writer (the API reads while a run is recorded).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(_READ_ONLY):
        # A reader (Database.reading): deferred, so it takes no lock; it cannot meet
        # the read-then-write deadlock below because it never writes.
        connection.exec_driver_sql("BEGIN")
        return
    # IMMEDIATE: take the write lock at the start. A deferred transaction that reads
    # then writes can fail at once with "database is locked" when another writer got
    # there first (SQLite cannot wait there without risking a deadlock); an immediate
    # one waits for the lock (the busy timeout) instead. Every transaction here is short.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


_migration_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _migration_lock() -> asyncio.Lock:
    """This event loop's migration lock (asyncio locks belong to one loop)."""
    loop = asyncio.get_running_loop()
    lock = _migration_locks.get(loop)
    if lock is None:
        lock = _migration_locks[loop] = asyncio.Lock()
    return lock
