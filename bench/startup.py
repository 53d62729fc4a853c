"""Start-up: a cold ``flov7 run`` against a bare dev server + worker doing the same.

Reproduce with::

    .venv/bin/python bench/startup.py            # 7 rounds, medians and the ratio
    .venv/bin/python bench/startup.py --rounds 15

Each round starts two fresh processes, one after the other (interleaved, so that load
from elsewhere on the machine hits both alike), each with its own empty data directory
and free ports:

- ``flov7``: ``flov7 run pure.json --quiet`` with the embedded server (a two-node
  ``transform`` workflow: no activity, no database node). Everything a user waits for:
  interpreter start, imports, the dev server's start, the worker, the run, the exit.
- ``baseline``: a bare Python script that starts the same ``temporal server start-dev``
  command (same flags, same SQLite file), connects, runs a hand-written workflow doing
  the same two steps on a plain SDK worker, and exits: the floor any Temporal-based CLI
  pays.

Also printed: the import time of ``flov7 run``'s modules alone (a child process that
imports them and nothing else) and whether the database stack was among them.
The ratio that matters: flov7 / baseline (and the difference, in ms).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flov7.temporal.devserver import EmbeddedDevServer, find_temporal_binary, free_ports
from flov7.temporal.search_attributes import SEARCH_ATTRIBUTES

WORKFLOW = {
    "id": "startup",
    "name": "startup",
    "input": {"x": 1},
    "nodes": [
        {"id": "a", "type": "transform", "data": {"mapping": {"y": "input.x + 1"}}},
        {"id": "b", "type": "transform", "data": {"mapping": {"z": "inputs.y * 2"}}},
    ],
    "edges": [{"id": "e1", "source": "a", "target": "b"}],
}

# The bare baseline: only the SDK, the server child process, one trivial workflow.
BASELINE = r"""
import asyncio, json, subprocess, sys, uuid
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

@workflow.defn(name="StartupBaseline")
class StartupBaseline:
    @workflow.run
    async def run(self, x: int) -> dict:
        y = x + 1
        return {"a": {"y": y}, "b": {"z": y * 2}}

async def main(command, target):
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                client = await Client.connect(target)
                break
            except Exception:
                await asyncio.sleep(0.05)
        async with Worker(client, task_queue="startup", workflows=[StartupBaseline]):
            result = await client.execute_workflow(
                StartupBaseline.run, 1, id=uuid.uuid4().hex, task_queue="startup"
            )
        print(json.dumps(result))
    finally:
        server.terminate()
        server.wait()
    await asyncio.sleep(0.1)  # sdk-python#300, as flov7 does

if __name__ == "__main__":  # the sandbox re-imports this file as __temporal_main__
    asyncio.run(main(json.loads(sys.argv[1]), sys.argv[2]))
"""

IMPORTS = (
    "import sys, time; t = time.perf_counter(); "
    "import flov7.cli, flov7.backends, flov7.runs.service, flov7.temporal.backend, "
    "flov7.temporal.environment, flov7.cli_progress; "
    "print(time.perf_counter() - t, int('sqlalchemy' in sys.modules), "
    "int('sqlglot' in sys.modules))"
)


def flov7_once(workdir: Path) -> float:
    """Seconds of one cold ``flov7 run`` (fresh data directory, free ports)."""
    port, ui_port = free_ports(2)
    data = Path(tempfile.mkdtemp(dir=workdir))
    document = data / "pure.json"
    document.write_text(json.dumps(WORKFLOW), encoding="utf-8")
    env = {
        **os.environ,
        "FLOV7_DATA_DIR": str(data),
        "FLOV7_DEVSERVER_PORT": str(port),
        "FLOV7_DEVSERVER_UI_PORT": str(ui_port),
        "FLOV7_DEVSERVER_UI": "false",
    }
    env.pop("TEMPORAL_HOST", None)
    flov7 = Path(sys.executable).parent / "flov7"
    start = time.perf_counter()
    done = subprocess.run(
        [str(flov7), "run", str(document), "--quiet"], env=env, capture_output=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or json.loads(done.stdout)["status"] != "completed":
        raise SystemExit(f"flov7 run failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return elapsed


def baseline_once(workdir: Path) -> float:
    """Seconds of one cold bare server + worker + workflow (same server command)."""
    port, ui_port = free_ports(2)
    data = Path(tempfile.mkdtemp(dir=workdir))
    # The very command Flov7's embedded server runs (flags, SQLite file, attributes).
    server = EmbeddedDevServer(
        data, port=port, ui_port=ui_port, ui=False, search_attributes=SEARCH_ATTRIBUTES
    )
    command = json.dumps(server.command(find_temporal_binary()))
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(workdir / "baseline.py"), command, server.target],
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"baseline failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return elapsed


def import_once() -> tuple[float, bool]:
    """Seconds to import ``flov7 run``'s modules in a fresh interpreter, and whether
    SQLAlchemy or sqlglot came with them."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True
    )
    seconds, sqlalchemy, sqlglot = done.stdout.split()
    return float(seconds), bool(int(sqlalchemy) or int(sqlglot))


def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="flov7-startup-") as tmp:
        workdir = Path(tmp)
        # A file, not ``-c``: the workflow sandbox re-imports the workflow's module by path.
        (workdir / "baseline.py").write_text(BASELINE, encoding="utf-8")
        flov7_once(workdir)  # warm the OS file cache for both (binaries, .pyc files)
        baseline_once(workdir)
        samples: dict[str, list[float]] = {"flov7": [], "baseline": [], "imports": []}
        database_stack = False
        for _ in range(rounds):
            samples["baseline"].append(baseline_once(workdir))
            samples["flov7"].append(flov7_once(workdir))
            seconds, loaded = import_once()
            samples["imports"].append(seconds)
            database_stack = database_stack or loaded
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, values in samples.items():
        print(
            f"{name:9s} median {medians[name] * 1000:7.0f} ms   "
            f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, n={rounds})"
        )
    print(f"database stack imported by `flov7 run`'s modules: {database_stack}")
    print()
    print(
        f"flov7 / baseline = {medians['flov7'] / medians['baseline']:.2f}x   "
        f"(+{(medians['flov7'] - medians['baseline']) * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    main(parser.parse_args().rounds)
