"""On the local runtime, a long pure node does not block the event loop (the API's)."""

from __future__ import annotations

import asyncio

import pytest

from flov7.local.runtime import LocalRuntime

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_other_tasks_run_while_a_heavy_pure_node_evaluates() -> None:
    # About 225,000 steps of sorting in one node (under its 250,000-step budget): a good
    # fraction of a second of CPU, all of it inside one node's evaluation.
    heavy = " + ".join(["len(sorted(inputs.nums))"] * 4)
    document = {
        "id": "heavy",
        "nodes": [
            {
                "id": "n",
                "type": "transform",
                "data": {"mapping": {f"k{i}": heavy for i in range(3)}},
            }
        ],
        "edges": [],
    }
    run_input = {"nums": list(range(10_000, 0, -1))}
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    result = await LocalRuntime().run(document, run_input=run_input)
    during = ticks - before
    running = False
    await ticking
    assert result["status"] == "completed", result["error"]
    assert result["node_results"]["n"]["output"] == {f"k{i}": 40_000 for i in range(3)}
    # Inline evaluation gives the ticker only the turns of the runtime itself (3 here); off the
    # loop it keeps getting turns (the interpreter hands the GIL over every 5 ms): tens to
    # hundreds, depending on the machine's load and how fast the node evaluates.
    assert during > 10
