"""Helpers of the UI tests: the app served on a real loopback port, documents."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from flov7.api.app import create_app
from flov7.config import Flov7Settings, NodeSettings, Settings, TemporalSettings
from flov7.runs.contract import ExecutionBackend
from flov7.store.database import Database

CHROMIUM = "/usr/bin/chromium"
"""Debian's chromium (``apt-get install chromium``; never ``playwright install``)."""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_KEY = "flov7_ui-test-key"
"""The API key of the app that asks for one (``keyed_ui_url``)."""
DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
"""The screenshots docs/ui.md and the README show."""
SCREENSHOTS = (
    DOC_IMAGES
    if os.environ.get("FLOV7_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "flov7-ui-screenshots"
)
"""Where the tests write screenshots: docs/images/ with FLOV7_UPDATE_SCREENSHOTS=1 (to
refresh the documented ones), else a temporary directory, so a test run leaves the
checkout as it was."""


def ui_settings(temporal: TemporalSettings, data_dir: Path, **flov7: Any) -> Settings:
    """Settings of a test app (outbound HTTP to 127.0.0.1 allowed, as on the worker)."""
    return Settings(
        temporal=temporal,
        flov7=Flov7Settings(_env_file=None, data_dir=data_dir, **flov7),
        nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"),
    )


def free_port() -> int:
    """A free TCP port on the loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def served(
    settings: Settings, *, backend: ExecutionBackend, database: Database
) -> AsyncIterator[str]:
    """The app (lifespan running) served by uvicorn on 127.0.0.1 in this event loop,
    as ``flov7 serve`` serves it; yields its base URL."""
    app: FastAPI = create_app(settings, backend=backend, database=database)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    async with app.router.lifespan_context(app):
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()  # raises why it could not start
            await asyncio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task


def unique(stem: str) -> str:
    """A workflow id no other test uses."""
    return f"{stem}-{uuid.uuid4().hex[:8]}"
