"""Fan-out: 10 independent ``api_call`` nodes against a server answering after 200 ms,
against one such call, with Flov7's default settings.

Reproduce with::

    .venv/bin/python bench/parallel.py            # 10 interleaved rounds, medians, ratios
    .venv/bin/python bench/parallel.py --runs 20

Everything runs in this process against one embedded dev server (in memory, Flov7's
flags); the HTTP server runs on 127.0.0.1 in a thread of its own (bench/chain.py's
``QuickServer`` with a 200 ms delay). Scenarios, interleaved round by round:

- flov7-1 / flov7-10: one ``api_call`` node / ten independent ones, worker with the
  default settings (``TEMPORAL_MAX_CONCURRENT_ACTIVITIES`` 20; nodes as local activities).
- flov7-10-activity: the ten nodes with ``"execution": "activity"`` (regular activities).
- flov7-10-guide-slots: the ten nodes on a worker with the guide's 5 activity slots.

Target (issue 11): flov7-10 / flov7-1 under 1.5x with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from chain import LOOPBACK, Once, embedded_server, flov7_run, interleaved, print_ratios, report
from chain import quick_server as delayed_server
from flov7.config import TemporalSettings
from flov7.nodes.resources import node_resources
from flov7.temporal.worker import create_worker

DELAY_SECONDS = 0.2
WIDTH = 10


def fan_out(url: str, width: int, execution: str | None = None) -> dict[str, Any]:
    """``width`` independent ``api_call`` nodes (no edges: all start at once)."""
    extra = {"execution": execution} if execution else {}
    nodes = [
        {"id": f"n{i}", "type": "api_call", "data": {"url": url}, **extra} for i in range(width)
    ]
    return {"id": f"fan-out-{width}", "nodes": nodes, "edges": []}


async def main(runs: int) -> None:
    defaults = TemporalSettings(task_queue="bench-parallel")
    guide = TemporalSettings(task_queue="bench-parallel-guide", max_concurrent_activities=5)
    async with embedded_server() as client, node_resources(LOOPBACK) as resources:
        with delayed_server(DELAY_SECONDS) as http:
            async with (
                create_worker(client, defaults, resources=resources),
                create_worker(client, guide, resources=resources),
            ):
                scenarios: dict[str, Once] = {
                    "flov7-1": flov7_run(client, defaults, fan_out(http.url, 1)),
                    "flov7-10": flov7_run(client, defaults, fan_out(http.url, WIDTH)),
                    "flov7-10-activity": flov7_run(
                        client, defaults, fan_out(http.url, WIDTH, "activity")
                    ),
                    "flov7-10-guide-slots": flov7_run(client, guide, fan_out(http.url, WIDTH)),
                }
                medians = report(await interleaved(runs, scenarios))
    print(
        f"\ndefaults: TEMPORAL_MAX_CONCURRENT_ACTIVITIES={defaults.max_concurrent_activities}, "
        f"TEMPORAL_MAX_CONCURRENT_WORKFLOWS={defaults.max_concurrent_workflows}; "
        f"guide slots: {guide.max_concurrent_activities}; server delay {DELAY_SECONDS * 1000:g} ms"
    )
    print_ratios(
        medians,
        [
            ("flov7-10", "flov7-1", "   (target < 1.5)"),
            ("flov7-10-activity", "flov7-1", ""),
            ("flov7-10-guide-slots", "flov7-1", "   (the guide's 5 slots)"),
        ],
    )
    await asyncio.sleep(0.1)  # sdk-python#300: let the Rust threads settle before exit


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    sys.exit(asyncio.run(main(parser.parse_args().runs)))
