"""Fixtures for the ``ai_agent`` tests: a fake chat-completions server and resources.

Import them explicitly: ``from nodes.llm_fixtures import llm, llm_resources, ...``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from flov7.nodes.base import ActivityContext, get_node_type
from flov7.nodes.resources import NodeResources
from flov7.nodes.settings import NodeSettings
from nodes.fake_llm_server import FakeLlmServer

API_KEY = "sk-test-0123456789abcdef"
MODEL = "test-model"


@pytest.fixture(scope="session")
def llm_server() -> Iterator[FakeLlmServer]:
    """One fake server for the session (its own thread and event loop)."""
    with FakeLlmServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def llm(llm_server: FakeLlmServer) -> Iterator[FakeLlmServer]:
    """The fake server with an empty script and no recorded requests."""
    llm_server.reset()
    yield llm_server
    llm_server.reset()


def llm_settings(server: FakeLlmServer, **fields: Any) -> NodeSettings:
    """Settings pointing at ``server`` (key and default model set) unless overridden.

    No outbound allow-list: the configured LLM host is allowed by the SSRF guard on its
    own, which these tests rely on.
    """
    values: dict[str, Any] = {
        "llm_base_url": server.base_url,
        "llm_api_key": API_KEY,
        "llm_model": MODEL,
        "llm_timeout_seconds": 10,
    }
    values.update(fields)
    return NodeSettings.from_values(**values)


@pytest_asyncio.fixture
async def llm_resources(llm: FakeLlmServer, clean_env: Path) -> AsyncIterator[NodeResources]:
    """Real node resources configured with the fake server (``clean_env``: no leaks)."""
    async with NodeResources.open(llm_settings(llm)) as resources:
        yield resources


async def run_ai_agent(resources: NodeResources, config: dict[str, Any]) -> Any:
    """Validate ``config`` and run the ai_agent node once, as an activity would."""
    node = get_node_type("ai_agent")
    assert node is not None
    context = ActivityContext(
        workflow_id="wf-test",
        run_id="run-test",
        node_id="agent",
        attempt=1,
        heartbeat=lambda *details: None,
        resources=resources,
        extras={"execution": {}},
    )
    return await node.execute(node.parse_config(config), context)
