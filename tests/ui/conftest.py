"""UI fixtures: the app served on a real port (Temporal dev server, or the local engine
with API keys), a real headless Chromium, and a page that fails the test on any script
error or any request that leaves the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright
from temporalio.client import Client
from ui_support import CHROMIUM, CHROMIUM_ARGS, UI_KEY, served, ui_settings

from flov7.config import TemporalSettings
from flov7.local.backend import LocalBackend
from flov7.store.database import Database
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.search_attributes import register_search_attributes


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ui_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    """The UI tests' store."""
    path = tmp_path_factory.mktemp("ui-store") / "flov7.db"
    async with Database.open(f"sqlite+aiosqlite:///{path}") as database:
        yield database


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ui_url(
    temporal_client: Client,
    flov7_worker: TemporalSettings,
    ui_database: Database,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[str]:
    """Base URL of the app on the session's Temporal dev server, without API keys."""
    await register_search_attributes(temporal_client)
    backend = TemporalBackend(flov7_worker, client=temporal_client)
    settings = ui_settings(flov7_worker, tmp_path_factory.mktemp("ui-data"))
    async with served(settings, backend=backend, database=ui_database) as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def keyed_ui_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """Base URL of an app on the local engine with ``FLOV7_API_KEYS`` set."""
    data = tmp_path_factory.mktemp("ui-keyed")
    settings = ui_settings(
        TemporalSettings(), data, enable_temporal_features=False, api_keys=UI_KEY
    )
    async with (
        Database.open(f"sqlite+aiosqlite:///{data / 'flov7.db'}") as database,
        LocalBackend(settings, database=database) as backend,
        served(settings, backend=backend, database=database) as url,
    ):
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's headless Chromium, driven by Playwright."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, ui_url: str) -> AsyncIterator[Page]:
    """A fresh tab at 1280x800 (its own session storage). At the end, the test fails
    if a script threw or the page asked anything of another origin."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    tab = await context.new_page()
    errors: list[str] = []
    foreign: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on(
        "request",
        lambda request: (
            None
            if request.url.startswith(("http://127.0.0.1:", "data:", "blob:"))
            else foreign.append(request.url)
        ),
    )
    yield tab
    await context.close()
    assert errors == [], f"script errors: {errors}"
    assert foreign == [], f"requests to other origins: {foreign}"


@pytest_asyncio.fixture(loop_scope="session")
async def http(ui_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the served app (to store workflows before a screen shows them)."""
    async with httpx.AsyncClient(base_url=ui_url, timeout=60) as client:
        yield client
