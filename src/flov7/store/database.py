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

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from flov7.errors import Flov7Error

__all__ = ["Database", "StoreError", "alembic_config", "redacted_url"]

# Any constant will do: it only has to be the same in every Flov7 process.
_MIGRATION_LOCK_KEY = 0x666C6F7637  # "flov7"


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
        async with self.engine.connect() as connection:
            await self._lock_for_migrations(connection)
            await connection.run_sync(_upgrade, revision)
            await connection.commit()

    async def downgrade(self, revision: str = "base") -> None:
        """Undo migrations down to ``revision`` (tests and manual rollbacks)."""
        async with self.engine.connect() as connection:
            await self._lock_for_migrations(connection)
            await connection.run_sync(_downgrade, revision)
            await connection.commit()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed on success and rolled back on error."""
        async with self.sessions.begin() as session:
            yield session

    async def _lock_for_migrations(self, connection: AsyncConnection) -> None:
        # Two processes starting at once must not both create the tables. PostgreSQL:
        # a transaction-scoped advisory lock. SQLite serialises writers by itself.
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )


def _upgrade(connection: Connection, revision: str) -> None:
    with _quiet_alembic():
        command.upgrade(alembic_config(connection), revision)


def _downgrade(connection: Connection, revision: str) -> None:
    with _quiet_alembic():
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
    options: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Wait for another writer (the CLI, another worker) instead of failing at once.
        options["connect_args"] = {"timeout": 15}
    engine = create_async_engine(url, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers never block the writer (the API reads while a run is recorded).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()
