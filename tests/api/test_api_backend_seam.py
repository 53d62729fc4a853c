"""The execution backend seam: the app picks its backend from the settings.

``ENABLE_TEMPORAL_FEATURES=false`` loads ``flov7.local.backend.LocalBackend``; here a fake
module stands in for it, so that the contract is checked whether or not the local
runtime's backend exists yet.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from api_support import API, api_settings, client_for, document, transform

from flov7.api import backend as backend_module
from flov7.api.app import create_app
from flov7.api.backend import (
    ExecutionBackend,
    ExecutionFilters,
    ExecutionRef,
    WorkflowRef,
    open_backend,
)
from flov7.api.temporal_backend import TemporalBackend
from flov7.config import TemporalSettings
from flov7.errors import ConfigError


class FakeLocalBackend:
    """Just enough of a local backend to see the app use it."""

    engine = "local"

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.started: dict[str, dict[str, Any]] = {}

    async def __aenter__(self) -> FakeLocalBackend:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def start(
        self,
        document: dict[str, Any],
        run_input: dict[str, Any] | None,
        execution_id: str,
        workflow_ref: WorkflowRef,
    ) -> ExecutionRef:
        created = execution_id not in self.started
        self.started.setdefault(execution_id, document)
        return ExecutionRef(execution_id, "local-run", "local", created)

    async def status(self, execution_id: str) -> dict[str, Any]:
        return {"execution_id": execution_id, "engine": "local", "status": "completed"}

    async def wait(self, execution_id: str, wait_seconds: float) -> dict[str, Any] | None:
        return await self.status(execution_id)

    async def history(
        self, execution_id: str, page: str | None, page_size: int, raw: bool
    ) -> dict[str, Any]:
        return {"execution_id": execution_id, "engine": "local", "events": []}

    async def cancel(self, execution_id: str, reason: str | None = None) -> None:
        return None

    async def list(
        self, filters: ExecutionFilters, page_token: str | None, page_size: int
    ) -> dict[str, Any]:
        return {"executions": [], "next_page_token": None}


@pytest.fixture
def fake_local_backend(monkeypatch: pytest.MonkeyPatch) -> type[FakeLocalBackend]:
    module = types.ModuleType("fake_local_backend_for_tests")
    module.LocalBackend = FakeLocalBackend  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(backend_module, "LOCAL_BACKEND", f"{module.__name__}:LocalBackend")
    return FakeLocalBackend


def test_temporal_backend_keeps_the_protocol() -> None:
    assert isinstance(TemporalBackend(TemporalSettings()), ExecutionBackend)
    assert TemporalBackend.engine == "temporal"


async def test_missing_local_backend_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(backend_module, "LOCAL_BACKEND", "flov7_no_such_module:LocalBackend")
    settings = api_settings(TemporalSettings(), tmp_path, enable_temporal_features=False)
    with pytest.raises(ConfigError, match="ENABLE_TEMPORAL_FEATURES"):
        async with open_backend(settings):
            pass


async def test_disabled_temporal_features_run_on_the_local_backend(
    fake_local_backend: type[FakeLocalBackend], tmp_path: Path
) -> None:
    settings = api_settings(
        TemporalSettings(), tmp_path, enable_temporal_features=False
    )  # the store: a SQLite file in tmp_path, opened and migrated by the lifespan
    app = create_app(settings)
    async with app.router.lifespan_context(app), client_for(app) as client:
        response = await client.post(
            f"{API}/workflow/execute", json={"workflow_data": document(transform("a"))}
        )
        assert response.status_code == 202
        assert response.json()["engine"] == "local"
        status = await client.get(response.json()["links"]["status"])
        assert status.json()["engine"] == "local"
        health = await client.get("/health/temporal")
        assert health.json()["status"] == "disabled"
        assert (await client.get("/health")).json()["engine"] == "local"
    assert (tmp_path / "flov7.db").exists()
