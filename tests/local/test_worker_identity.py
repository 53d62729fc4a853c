"""On the local runtime every node names this process as its worker."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

from flov7.local.runner import local_worker_identity
from flov7.local.runtime import LocalRuntime


def test_the_local_identity_is_stable_and_says_local() -> None:
    assert local_worker_identity() == f"local:{os.getpid()}@{socket.gethostname()}"
    assert local_worker_identity() == local_worker_identity()


@pytest.mark.asyncio(loop_scope="session")
async def test_every_node_of_a_local_run_names_the_local_worker() -> None:
    document: dict[str, Any] = {
        "id": "who-local",
        "nodes": [
            {"id": "pure", "type": "transform", "data": {"mapping": {"x": 1}}},
            {"id": "pause", "type": "delay", "data": {"delay_seconds": 0}},
            {
                "id": "bad",
                "type": "transform",
                "on_error": "continue",
                "data": {"mapping": {"x": "1 / 0"}},
            },
        ],
        "edges": [{"id": "e1", "source": "pure", "target": "pause"}],
    }
    run = LocalRuntime().start(document, execution_id="who-local-1")
    result = await run.result()
    assert result["status"] == "completed", result["error"]
    identity = local_worker_identity()
    assert {n: node["worker"] for n, node in result["node_results"].items()} == {
        "pure": identity,
        "pause": identity,
        "bad": identity,
    }
    assert {node["worker"] for node in run.status()["nodes"].values()} == {identity}
