"""The node registry's manifest, and what node types say about their own configs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from flov7.nodes import base, registry
from flov7.nodes.base import NodeConfig, NodeKind, NodeType
from flov7.nodes.registry import BUILTIN_NODE_TYPES, get_node_type, node_types

GUIDE_ORDER = ["api_call", "condition", "transform", "delay", "database", "webhook", "ai_agent"]
FLOV7_TYPES = ["wait", "approval", "respond", "for_each", "workflow"]
"""Flov7's own types, after the guide's."""
NODES_DIR = Path(registry.__file__).parent


class _Echo(NodeType):
    name = "test_echo"
    kind = NodeKind.PURE
    config_model = NodeConfig
    description = "test only"
    example: ClassVar[dict[str, Any]] = {}


def test_manifest_lists_the_built_ins_in_the_guides_order() -> None:
    assert [node_type.name for node_type in BUILTIN_NODE_TYPES] == GUIDE_ORDER + FLOV7_TYPES
    assert list(node_types()) == GUIDE_ORDER + FLOV7_TYPES
    for node_type in BUILTIN_NODE_TYPES:
        assert get_node_type(node_type.name) is node_type
    assert get_node_type("nope") is None


def test_base_helpers_read_the_same_manifest() -> None:
    assert base.node_types() == node_types()
    assert base.get_node_type("delay") is get_node_type("delay")


def test_importing_a_node_module_registers_nothing() -> None:
    """Only the manifest makes a type known: importing one node module adds nothing."""
    code = (
        "import sys\n"
        "import flov7.nodes.delay\n"
        "assert 'flov7.nodes.registry' not in sys.modules\n"
        "assert 'flov7.nodes.api_call' not in sys.modules\n"
        "from flov7.nodes.registry import node_types\n"
        "print(','.join(node_types()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == ",".join(GUIDE_ORDER + FLOV7_TYPES)


def test_register_adds_after_the_built_ins_and_unregister_removes() -> None:
    with registry.registered(_Echo()):
        assert list(node_types()) == [*GUIDE_ORDER, *FLOV7_TYPES, "test_echo"]
        assert isinstance(get_node_type("test_echo"), _Echo)
    assert get_node_type("test_echo") is None
    assert list(node_types()) == GUIDE_ORDER + FLOV7_TYPES


def test_a_built_in_cannot_be_replaced() -> None:
    class _FakeDelay(_Echo):
        name = "delay"

    with pytest.raises(ValueError, match="built-in"):
        registry.register(_FakeDelay())
    registry.unregister("delay")  # a no-op for built-ins
    assert get_node_type("delay") is BUILTIN_NODE_TYPES[3]


def test_wait_seconds_only_delay_waits() -> None:
    delay = get_node_type("delay")
    assert delay is not None
    assert delay.wait_seconds({"delay_seconds": 5}) == 5.0
    assert delay.wait_seconds({"delay_seconds": 0.25}) == 0.25
    assert delay.wait_seconds({"delay_seconds": "{{ input.seconds }}"}) is None
    assert delay.wait_seconds({}) is None
    assert delay.waited_seconds({"data": 1, "delayed_seconds": 3}) == 3.0
    assert delay.waited_seconds("not a dict") is None
    for node_type in BUILTIN_NODE_TYPES:
        if node_type is not delay:
            assert node_type.wait_seconds({"delay_seconds": 5}) is None
            assert node_type.waited_seconds({"delayed_seconds": 5}) is None


def test_expressions_name_each_field_path() -> None:
    condition, transform, api_call = (
        get_node_type(name) for name in ("condition", "transform", "api_call")
    )
    assert condition is not None and transform is not None and api_call is not None
    assert condition.expressions({"condition": "inputs.ok", "label": "x"}) == [
        ("condition", "inputs.ok")
    ]
    mapping = {"a": "inputs.a", "b": {"c": "inputs.c"}, "d": ["x", 3, "y"], "e": 4}
    assert transform.expressions({"mapping": mapping}) == [
        ("mapping.a", "inputs.a"),
        ("mapping.b.c", "inputs.c"),
        ("mapping.d[0]", "x"),
        ("mapping.d[2]", "y"),
    ]
    assert transform.expressions({"transform_type": "expression", "expression": "1 + 1"}) == [
        ("expression", "1 + 1")
    ]
    # Templates in ordinary string fields are not bare expressions.
    assert api_call.expressions({"url": "http://x/{{ input.id }}"}) == []


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_node_module_imports_another_nodes_module() -> None:
    """Node modules share code through helper modules (``http``, ``llm``...), which
    import no node module either; only the registry imports them all."""
    node_modules = {f"flov7.nodes.{node_type.name}" for node_type in BUILTIN_NODE_TYPES}
    for path in sorted(NODES_DIR.glob("*.py")):
        if path.stem == "registry":
            continue
        others = node_modules - {f"flov7.nodes.{path.stem}"}
        assert not _imported_modules(path) & others, path.name


def test_nodes_import_no_runtime() -> None:
    """The registry, the node resources and the settings tree load without temporal/,
    local/ or api/ (config's task-queue default comes from flov7.temporal.names only)."""
    code = (
        "import sys\n"
        "import flov7.nodes.registry, flov7.nodes.resources, flov7.config\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('flov7.'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    runtimes = ("flov7.temporal", "flov7.local", "flov7.api", "flov7.runs", "flov7.cli")
    leaked = [m for m in out if m.startswith(runtimes)]
    assert set(leaked) <= {"flov7.temporal", "flov7.temporal.names"}, leaked
