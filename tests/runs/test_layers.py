"""The layout shows the architecture: who may import whom (DESIGN.md, Layout).

Read from the source with ``ast`` (every ``import`` / ``from ... import``, lazy ones
inside functions included, ``TYPE_CHECKING`` ones too: a type is a dependency), so a
new upward import fails here before review.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "flov7"

# package -> flov7 packages it must never import (a lower layer never imports a higher
# one; the two runtimes never import each other; the run service imports no engine).
FORBIDDEN = {
    "spec": {"engine", "nodes", "temporal", "local", "runs", "api", "cli", "backends", "ui"},
    "expressions": {"temporal", "local", "runs", "api", "cli", "backends", "ui"},
    "engine": {"temporal", "local", "runs", "api", "cli", "backends", "ui"},
    "nodes": {"temporal", "local", "runs", "api", "cli", "backends", "ui"},
    "store": {"temporal", "local", "runs", "api", "cli", "backends", "ui"},
    "runs": {"temporal", "local", "api", "cli", "backends", "ui"},
    "local": {"temporal", "api", "cli", "backends", "ui"},
    "temporal": {"local", "api", "cli", "backends", "ui"},
    "backends": {"api", "cli", "ui"},
    # The web UI is on top: it reads the API and the run views, never an engine.
    "ui": {"engine", "temporal", "local", "backends", "nodes", "store", "cli"},
    # Logging, metrics, tracing: below everything that logs, counts or traces.
    "observability": {
        "engine",
        "nodes",
        "temporal",
        "local",
        "runs",
        "api",
        "cli",
        "backends",
        "ui",
        "store",
    },
}
# The engines' backends are reached through the composition root only.
ENGINE_BACKENDS = {"flov7.temporal.backend", "flov7.local.backend"}


def _package(path: Path) -> str:
    relative = path.relative_to(SRC)
    return relative.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return [name for name in found if name == "flov7" or name.startswith("flov7.")]


def _modules() -> list[Path]:
    return sorted(path for path in SRC.rglob("*.py") if "migrations" not in path.parts)


def test_no_layer_imports_a_layer_above_it() -> None:
    offences = []
    for path in _modules():
        package = _package(path)
        if package == "engine" and "expressions" in path.parts:
            package = "expressions"
        banned = FORBIDDEN.get(package, set())
        for name in _imports(path):
            parts = name.split(".")
            if len(parts) > 1 and parts[1] in banned:
                offences.append(f"{path.relative_to(SRC)} imports {name}")
    assert offences == []


def test_only_the_composition_root_opens_an_engine_backend() -> None:
    offences = []
    for path in _modules():
        if _package(path) in ("backends", "temporal", "local"):
            continue
        for name in _imports(path):
            if any(name == mod or name.startswith(mod + ".") for mod in ENGINE_BACKENDS):
                offences.append(f"{path.relative_to(SRC)} imports {name}")
    assert offences == []


def test_there_is_no_import_cycle_through_the_run_service() -> None:
    """runs/ only reaches packages that never reach back into runs/."""
    graph: dict[str, set[str]] = {}
    for path in _modules():
        package = _package(path)
        graph.setdefault(package, set()).update(
            name.split(".")[1] for name in _imports(path) if len(name.split(".")) > 1
        )
    reachable: set[str] = set()
    todo = [dep for dep in graph.get("runs", set()) if dep != "runs"]
    while todo:
        package = todo.pop()
        if package in reachable:
            continue
        reachable.add(package)
        todo.extend(graph.get(package, set()) - reachable)
    assert "runs" not in reachable


@pytest.mark.parametrize("module", ["flov7.local.backend", "flov7.runs.service"])
def test_the_local_engine_and_the_run_service_load_no_temporal_sdk(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "loaded = sorted(m for m in sys.modules if m == 'temporalio' or "
        "m.startswith(('temporalio.', 'flov7.temporal', 'flov7.api')))\n"
        "print(','.join(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
