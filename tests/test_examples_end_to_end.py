"""Every workflow in examples/ runs end to end, as the README tells a new user to run it.

An example that calls local services documents them in its ``x-example`` block: the
script that serves them (started here on a free port, with its database in a temporary
directory), the port and database file the document and README use (replaced by those),
the settings the run needs (``FLOV7_OUTBOUND_ALLOWLIST``, named databases), and a path
of the service that shows the run had its effect (the webhook deliveries).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flov7.engine.validate import validate_workflow
from flov7.temporal.devserver import EmbeddedDevServer, free_ports
from test_cli import flov7

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


def test_there_are_examples_with_io_nodes() -> None:
    types = {node["type"] for path in EXAMPLES for node in json.loads(path.read_text())["nodes"]}
    assert {"api_call", "database", "webhook"} <= types


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_is_valid_without_warnings(path: Path) -> None:
    report = validate_workflow(json.loads(path.read_text()))
    assert report.valid, report.summary()
    assert report.warnings == [], report.warnings


def _replace(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {key: _replace(item, old, new) for key, item in value.items()}
    return value


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs_end_to_end(
    path: Path,
    temporal_server: EmbeddedDevServer,
    tmp_path: Path,
    services: list[subprocess.Popen[str]],
) -> None:
    document = json.loads(path.read_text())
    example = document.get("x-example", {})
    env = {
        "TEMPORAL_HOST": temporal_server.target,
        "TEMPORAL_TASK_QUEUE": f"examples-{uuid.uuid4().hex[:8]}",
        "FLOV7_DATA_DIR": str(tmp_path / "data"),
        **example.get("env", {}),
    }
    run_input = dict(document.get("input", {}))
    base_url = None
    if example.get("services"):
        port = free_ports(1)[0]
        database = tmp_path / "example.db"
        for script in example["services"]:
            process = subprocess.Popen(
                [sys.executable, str(ROOT / script), "--port", str(port), "--db", str(database)],
                stdout=subprocess.PIPE,
                text=True,
                env={k: v for k, v in os.environ.items() if not k.startswith("FLOV7_")},
            )
            services.append(process)
            assert process.stdout is not None
            assert "orders service on" in process.stdout.readline()
        replacements = [(str(example["port"]), str(port))]
        if "database" in example:
            replacements.append((example["database"], str(database)))
        for old, new in replacements:
            env = _replace(env, old, new)
            run_input = _replace(run_input, old, new)
        base_url = f"http://127.0.0.1:{port}"
    result = flov7(
        "run", str(path), "--input", json.dumps(run_input), "--worker", "always", env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "completed", outcome["error"]
    if base_url is not None and "check" in example:
        with urllib.request.urlopen(base_url + example["check"], timeout=10) as response:
            effects = json.load(response)
        assert effects, f"{example['check']} shows nothing: the run had no effect"
