"""Shared fixtures.

``temporal_server`` / ``temporal_client`` start one embedded Temporal dev server for the
whole session, and only if a test asks for them: pure unit tests never pay for it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client

from flov7.config import reset_settings_cache
from flov7.temporal.client import clear_client_cache
from flov7.temporal.devserver import EmbeddedDevServer, free_ports

# Prefixes of the variables Flov7 reads (see flov7.config).
_FLOV7_VARIABLES = ("TEMPORAL_", "FLOV7_", "START_TEMPORAL_WORKER", "ENABLE_TEMPORAL_FEATURES")


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Each test reads the settings again (after its own monkeypatched env / CWD)."""
    reset_settings_cache()
    yield
    reset_settings_cache()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Default settings: no Flov7 variable from the shell, no ``.env`` from the checkout.

    Unsets every variable Flov7 reads and moves to an empty working directory (returned),
    where a test may write its own ``.env``.
    """
    for name in list(os.environ):
        if name.upper().startswith(_FLOV7_VARIABLES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[EmbeddedDevServer]:
    """One embedded Temporal dev server (SQLite, no UI, free ports) for the session."""
    port, ui_port = free_ports(2)
    server = EmbeddedDevServer(
        tmp_path_factory.mktemp("temporal"),
        port=port,
        ui_port=ui_port,
        ui=False,
    )
    async with server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_client(temporal_server: EmbeddedDevServer) -> AsyncIterator[Client]:
    """A client of :func:`temporal_server`, namespace ``default``."""
    client = await Client.connect(temporal_server.target)
    yield client
    # Clients cached by get_temporal_client point at a server about to stop.
    clear_client_cache()
