"""The store's schema comes from its Alembic migrations, run at open, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from flov7.config import Flov7Settings
from flov7.store.database import Database, StoreError, alembic_config
from flov7.store.models import Base
from flov7.store.repository import Repository

NewDatabase = Callable[[], Awaitable[str]]
"""The ``new_database`` fixture: makes an empty database, returns its URL."""

TABLES = {
    "workflows",
    "workflow_versions",
    "executions",
    "api_keys",
    "hooks",
    "schedules",
    "alembic_version",
}


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _model_drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_open_migrates_a_new_database_to_head(new_database: NewDatabase) -> None:
    url = await new_database()
    async with Database.open(url) as database, database.engine.connect() as connection:
        assert await connection.run_sync(_tables) == TABLES
        revision = (
            await connection.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision == head


async def test_models_match_the_migrations(new_database: NewDatabase) -> None:
    """Models and migrations must not drift apart: change both, together."""
    url = await new_database()
    async with Database.open(url) as database, database.engine.connect() as connection:
        assert await connection.run_sync(_model_drift) == []


async def test_opening_again_and_concurrently_is_harmless(new_database: NewDatabase) -> None:
    url = await new_database()
    databases = await asyncio.gather(*(Database.connect(url) for _ in range(3)))
    try:
        async with databases[0].engine.connect() as connection:
            count = (
                await connection.execute(text("SELECT count(*) FROM alembic_version"))
            ).scalar()
        assert count == 1
    finally:
        for database in databases:
            await database.close()
    async with Database.open(url):
        pass


async def test_downgrade_then_upgrade(new_database: NewDatabase) -> None:
    async with Database.open(await new_database()) as database:
        await database.downgrade("base")
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_tables) <= {"alembic_version"}
        await database.upgrade()
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_tables) == TABLES


async def test_unreachable_database_is_a_store_error_without_the_password() -> None:
    url = "postgresql+asyncpg://flov7:s3cret-pw@127.0.0.1:1/nothing"
    with pytest.raises(StoreError) as caught:
        await Database.connect(url)
    message = str(caught.value)
    assert "s3cret-pw" not in message
    assert "127.0.0.1:1" in message
    assert "FLOV7_DATABASE_URL" in message


async def test_default_url_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = Flov7Settings(_env_file=None, data_dir=tmp_path / "nested" / "data")
    url = settings.resolved_database_url
    assert url == f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'data' / 'flov7.db'}"
    async with Database.open(url):
        pass
    assert (tmp_path / "nested" / "data" / "flov7.db").is_file()


@pytest.mark.parametrize(
    ("given", "resolved"),
    [
        ("sqlite:////var/lib/flov7.db", "sqlite+aiosqlite:////var/lib/flov7.db"),
        ("postgresql://u:p@db:5432/flov7", "postgresql+asyncpg://u:p@db:5432/flov7"),
        ("postgres://u@db/flov7", "postgresql+asyncpg://u@db/flov7"),
        ("postgresql+asyncpg://u@db/flov7", "postgresql+asyncpg://u@db/flov7"),
    ],
)
def test_database_urls_get_an_async_driver(given: str, resolved: str) -> None:
    settings = Flov7Settings(_env_file=None, database_url=given)
    assert settings.resolved_database_url == resolved


async def test_runs_recorded_before_0002_survive_it_both_ways(new_database: NewDatabase) -> None:
    """0002 adds the run outcome columns to a store that has runs already, and its
    downgrade drops them again without losing the runs."""
    async with Database.open(await new_database(), migrate=False) as database:
        await database.upgrade("0001")
        async with database.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO executions (execution_id, workflow_id, engine, status, "
                    "created_at) VALUES ('old-run', 'wf', 'local', 'running', :now)"
                ),
                {"now": datetime.now(UTC)},
            )
        await database.upgrade()
        repository = Repository(database)
        old = await repository.get_execution("old-run", with_outcome=True)
        assert old is not None
        assert (old.status, old.finished_at, old.result, old.events) == (
            "running",
            None,
            None,
            None,
        )
        assert await repository.interrupt_executions("local", error={"type": "Interrupted"})
        await database.downgrade("0001")
        async with database.engine.connect() as connection:
            columns = await connection.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("executions")}
            )
            status = (await connection.execute(text("SELECT status FROM executions"))).scalar_one()
        assert "result" not in columns and status == "interrupted"
