"""Start-up imports only what a command needs (issue 11, docs/local-runtime.md).

Each check runs in a fresh interpreter (``sys.modules`` of this test process is full of
everything the suite imported) and looks at what importing a command's path loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

DATABASE_STACK = ("sqlalchemy", "sqlglot", "aiosqlite", "asyncpg", "aiomysql", "alembic")
SERVING_STACK = ("fastapi", "starlette", "uvicorn")

# What `flov7 run` and `flov7 worker` import before a run starts: the CLI, the run
# service, the Temporal backend and environment, the worker, the workflows (which load
# every node type through the registry) and the activities.
RUN_PATH = (
    "flov7.cli",
    "flov7.cli_progress",
    "flov7.backends",
    "flov7.runs.service",
    "flov7.nodes.registry",
    "flov7.engine.validate",
    "flov7.temporal.backend",
    "flov7.temporal.environment",
    "flov7.temporal.worker",
    "flov7.temporal.workflows",
    "flov7.temporal.activities",
    "flov7.temporal.telemetry",
    "flov7.observability.metrics",
    "flov7.observability.logging",
    "flov7.observability.tracing",
)


def _loaded_after(code: str) -> set[str]:
    """Top-level package names in ``sys.modules`` after running ``code`` afresh."""
    probe = (
        f"{code}\nimport sys, json\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_run_path_loads_no_database_or_serving_stack() -> None:
    loaded = _loaded_after("import " + ", ".join(RUN_PATH))
    assert "temporalio" in loaded  # the probe really imported the run path
    assert loaded.isdisjoint(DATABASE_STACK + SERVING_STACK), sorted(
        loaded & set(DATABASE_STACK + SERVING_STACK)
    )


def test_a_workflow_without_database_nodes_validates_without_the_database_stack() -> None:
    document = {
        "id": "pure",
        "nodes": [
            {"id": "a", "type": "transform", "data": {"mapping": {"y": "input.x"}}},
            {"id": "b", "type": "api_call", "data": {"url": "http://127.0.0.1:9/x"}},
        ],
        "edges": [{"id": "e1", "source": "a", "target": "b"}],
    }
    code = (
        "from flov7.engine.validate import validate_workflow\n"
        f"assert validate_workflow({document!r}).valid\n"
    )
    assert _loaded_after(code).isdisjoint(DATABASE_STACK)


def test_a_database_node_validates_without_the_database_stack() -> None:
    """Its config is plain pydantic: SQLAlchemy waits for the node to run (an activity,
    never inside Temporal's workflow sandbox, which would import it for every run)."""
    document = {
        "id": "db",
        "nodes": [
            {
                "id": "q",
                "type": "database",
                "data": {"operation": "select", "table": "orders", "limit": 5},
            }
        ],
        "edges": [],
    }
    code = (
        "from flov7.engine.validate import validate_workflow\n"
        f"assert validate_workflow({document!r}).valid\n"
    )
    assert _loaded_after(code).isdisjoint(DATABASE_STACK)


def test_cli_help_loads_neither_settings_nor_temporal_nor_node_types() -> None:
    code = "import flov7.cli\nflov7.cli.build_parser().format_help()"
    probe = (
        f"{code}\nimport sys, json\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('flov7', 'temporalio', "
        "'pydantic')))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(done.stdout.splitlines()[-1])
    heavy = [
        name
        for name in loaded
        if name.startswith(
            ("temporalio", "pydantic", "flov7.config", "flov7.nodes", "flov7.engine")
        )
    ]
    assert heavy == []


@pytest.mark.parametrize("command", [["--help"], ["run", "--help"]])
def test_help_still_works(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flov7.cli", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: flov7" in done.stdout
