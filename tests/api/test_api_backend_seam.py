"""The execution backend seam: the app picks its backend from the settings.

``ENABLE_TEMPORAL_FEATURES=false`` opens :class:`~flov7.local.backend.LocalBackend`,
which keeps its run records in the app's store (the same database, not a second one).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from api_support import API, WAIT, api_settings, client_for, document, transform

from flov7.api.app import create_app
from flov7.backends import open_backend
from flov7.config import TemporalSettings
from flov7.local.backend import NOT_DURABLE_WARNING, LocalBackend
from flov7.runs.contract import ExecutionBackend
from flov7.store.database import Database
from flov7.store.repository import Repository
from flov7.temporal.backend import TemporalBackend


def test_both_backends_keep_the_protocol(tmp_path: Path) -> None:
    assert isinstance(TemporalBackend(TemporalSettings()), ExecutionBackend)
    assert TemporalBackend.engine == "temporal"
    settings = api_settings(TemporalSettings(), tmp_path, enable_temporal_features=False)
    assert isinstance(LocalBackend(settings), ExecutionBackend)
    assert LocalBackend.engine == "local"


async def test_open_backend_shares_the_given_store(tmp_path: Path) -> None:
    settings = api_settings(TemporalSettings(), tmp_path, enable_temporal_features=False)
    async with Database.open(f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}") as database:
        async with open_backend(settings, database=database) as backend:
            assert isinstance(backend, LocalBackend)
            assert backend.repository.database is database
        # The backend left the store it was given open.
        assert await Repository(database).get_execution("nothing") is None
    assert not (tmp_path / "flov7.db").exists()  # no second store was opened


async def test_disabled_temporal_features_run_on_the_local_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    opened: list[str] = []
    connect = Database.connect.__func__  # type: ignore[attr-defined]

    async def counting_connect(cls: type[Database], /, url: str, **options: bool) -> Database:
        opened.append(url)
        database: Database = await connect(cls, url, **options)
        return database

    monkeypatch.setattr(Database, "connect", classmethod(counting_connect))
    settings = api_settings(TemporalSettings(), tmp_path, enable_temporal_features=False)
    app = create_app(settings)  # the lifespan opens the store, then the local backend
    with caplog.at_level(logging.WARNING, logger="flov7.local.backend"):
        async with app.router.lifespan_context(app), client_for(app) as client:
            response = await client.post(
                f"{API}/workflow/execute",
                json={"workflow_data": document(transform("a", x="2 * 21"))},
                params=WAIT,
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["engine"] == "local"
            assert body["status"] == "completed"
            assert body["result"]["node_results"]["a"]["output"] == {"x": 42}
            health = await client.get("/health/temporal")
            assert health.status_code == 200
            assert (health.json()["status"], health.json()["engine"]) == ("disabled", "local")
            assert (await client.get("/health")).json()["engine"] == "local"
    assert NOT_DURABLE_WARNING in caplog.messages
    assert opened == [settings.flov7.resolved_database_url]  # one store, shared
    assert (tmp_path / "flov7.db").exists()
