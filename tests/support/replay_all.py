"""Replay every recorded history in a directory; exit 1 on the first failure.

Run in a fresh process by tests/temporal/test_durability.py with several
``PYTHONHASHSEED`` values: set iteration order changes with the seed, so workflow code
that iterated a set would replay differently there.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from flov7.temporal.worker import WORKFLOWS


async def main(directory: Path) -> int:
    replayer = Replayer(workflows=WORKFLOWS)
    count = 0
    for path in sorted(directory.glob("*.json")):
        history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            print(f"{path.name}: {result.replay_failure}")
            return 1
        count += 1
    print(f"replayed {count} histories")
    await asyncio.sleep(0.1)  # sdk-python#300
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]))))
