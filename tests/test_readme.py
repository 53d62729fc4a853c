"""The README's Python snippet works as a script, as written."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from flov7.config import TemporalSettings
from flov7.temporal.devserver import EmbeddedDevServer

README = Path(__file__).parent.parent / "README.md"


def python_snippet() -> str:
    text = README.read_text()
    section = text.split("### From Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the README has no Python snippet under 'From Python'"
    return match.group(1)


async def test_the_python_snippet_runs_as_a_script(
    temporal_server: EmbeddedDevServer, flov7_worker: TemporalSettings, tmp_path: Path
) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(python_snippet())
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FLOV7_"))}
    env = {
        **base,
        "TEMPORAL_HOST": temporal_server.target,
        "TEMPORAL_TASK_QUEUE": flov7_worker.task_queue,  # the test session's worker
        "FLOV7_DATA_DIR": str(tmp_path / "data"),
    }
    # Async: the worker that runs the snippet's workflow lives on this event loop.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    assert "completed {'greeting': 'Hello, Ada'}" in stdout.decode()
