"""Fixtures of the I/O node tests: a real HTTP server, node settings, worker resources."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from flov7.nodes.base import ActivityContext
from flov7.nodes.resources import NodeResources
from flov7.nodes.settings import NodeSettings
from nodes.http_servers import TestHttpServer

# Secret values the tests look for in outputs and error messages: each is unusual
# enough that finding it anywhere means it leaked.
SECRETS: dict[str, str] = {
    "bearer": "tok-bearer-9f3c1a7e",
    "basic_password": "pw-basic-51d0b2",
    "header": "key-header-77ac3e",
    "plain": "plain-secret-0b9e44",
    "webhook": "whsec-hmac-c4e2d8",
}

CREDENTIALS: dict[str, Any] = {
    "api_token": {"type": "bearer", "token": SECRETS["bearer"]},
    "login": {"type": "basic", "username": "flov7-user", "password": SECRETS["basic_password"]},
    "custom_header": {"type": "header", "header": "X-Custom-Key", "value": SECRETS["header"]},
    "plain": SECRETS["plain"],
    "hook": {"type": "secret", "value": SECRETS["webhook"]},
}


@pytest.fixture
def secrets() -> dict[str, str]:
    """The secret values behind the test credentials (see :data:`CREDENTIALS`)."""
    return dict(SECRETS)


@pytest.fixture
def credentials_config() -> dict[str, Any]:
    """The test credentials, as ``FLOV7_CREDENTIALS`` would hold them."""
    copy: dict[str, Any] = json.loads(json.dumps(CREDENTIALS))
    return copy


MakeSettings = Callable[..., NodeSettings]
MakeContext = Callable[..., ActivityContext]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def http_server() -> AsyncIterator[TestHttpServer]:
    """One :class:`TestHttpServer` on 127.0.0.1 for the session (use unique flaky keys)."""
    async with TestHttpServer() as server:
        yield server


@pytest.fixture
def make_settings(clean_env: Path) -> MakeSettings:
    """``make_settings(**fields)``: :class:`NodeSettings` from arguments only.

    Reads no variable and no ``.env`` (``clean_env`` keeps them from the code under
    test too). Defaults: allow-list
    ``127.0.0.1`` (the test servers) and the test :data:`CREDENTIALS`.
    """

    def make(**fields: Any) -> NodeSettings:
        fields.setdefault("outbound_allowlist", "127.0.0.1")
        fields.setdefault("credentials", CREDENTIALS)
        return NodeSettings.from_values(**fields)

    return make


@pytest_asyncio.fixture
async def resources(make_settings: MakeSettings) -> AsyncIterator[NodeResources]:
    """Worker resources that may reach 127.0.0.1, with the test credentials."""
    async with NodeResources.open(make_settings()) as opened:
        yield opened


@pytest_asyncio.fixture
async def guarded_resources(make_settings: MakeSettings) -> AsyncIterator[NodeResources]:
    """Worker resources with the default outbound policy (no allow-list)."""
    async with NodeResources.open(make_settings(outbound_allowlist="")) as opened:
        yield opened


@pytest.fixture
def make_context() -> MakeContext:
    """``make_context(resources, node_id=..., execution_id=..., attempt=...)``."""

    def make(
        resources: NodeResources | None,
        *,
        node_id: str = "node-1",
        execution_id: str = "exec-1",
        attempt: int = 1,
    ) -> ActivityContext:
        return ActivityContext(
            workflow_id=execution_id,
            run_id="run-1",
            node_id=node_id,
            attempt=attempt,
            heartbeat=lambda *details: None,
            resources=resources,
            extras={
                "execution": {
                    "execution_id": execution_id,
                    "run_id": "run-1",
                    "workflow_id": "wf-1",
                    "attempt": attempt,
                    "node_id": node_id,
                }
            },
        )

    return make
