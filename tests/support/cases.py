"""The end-to-end corpus: ``tests/fixtures/workflows/*.json`` and their expected outcomes.

Each document carries an ``x-cases`` list (ignored by Flov7: unknown fields are
presentation data). A case names a run input and what the result must show. The same
corpus runs on Temporal and on the local runtime.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORKFLOWS = Path(__file__).resolve().parent.parent / "fixtures" / "workflows"


@dataclass(frozen=True)
class Case:
    """One run of one fixture workflow."""

    file: str
    name: str
    document: dict[str, Any]
    run_input: dict[str, Any] | None
    expect: dict[str, Any]

    @property
    def id(self) -> str:
        """Pytest id."""
        return f"{self.file}:{self.name}"


def load_cases() -> list[Case]:
    """Every case of every valid fixture workflow."""
    cases = []
    for path in sorted(WORKFLOWS.glob("*.json")):
        document = json.loads(path.read_text())
        for case in document.get("x-cases", []):
            cases.append(
                Case(
                    file=path.stem,
                    name=case["name"],
                    document=document,
                    run_input=case.get("input"),
                    expect=case["expect"],
                )
            )
    return cases


def invalid_documents() -> list[tuple[str, dict[str, Any]]]:
    """``(name, document)`` of every fixture under ``invalid/``."""
    return [
        (path.stem, json.loads(path.read_text()))
        for path in sorted((WORKFLOWS / "invalid").glob("*.json"))
    ]


def check_result(result: dict[str, Any], expect: dict[str, Any]) -> None:
    """Assert that a result document matches a case's expectations."""
    nodes = result["node_results"]
    assert result["status"] == expect["status"], result.get("error")
    for node_id, status in expect.get("nodes", {}).items():
        assert nodes[node_id]["status"] == status, (node_id, nodes[node_id])
    for node_id, output in expect.get("outputs", {}).items():
        assert nodes[node_id]["output"] == output, (node_id, nodes[node_id])
    if "path" in expect:
        assert result["execution_path"] == expect["path"]
    counts = expect.get("counts", {})
    for status, count in counts.items():
        assert result[f"{status}_nodes"] == count, (status, result)
    if "error_node" in expect:
        assert result["error"]["node_id"] == expect["error_node"]
    if "error_contains" in expect:
        assert expect["error_contains"] in result["error"]["message"]
    assert result["total_nodes"] == len(result["node_results"])
    for node in nodes.values():
        if node["status"] in ("completed", "failed"):
            assert node["started_at"] and node["finished_at"], node
            assert node["started_at"] <= node["finished_at"]


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """A result without what differs between runs (ids, timestamps, workers) for parity."""
    differs = ("started_at", "finished_at", "worker")
    return {
        "status": result["status"],
        "workflow_id": result["workflow_id"],
        "nodes": {
            node_id: {k: v for k, v in node.items() if k not in differs}
            for node_id, node in result["node_results"].items()
        },
        "counts": [
            result[k] for k in ("total_nodes", "completed_nodes", "failed_nodes", "skipped_nodes")
        ],
        "error": {k: v for k, v in (result.get("error") or {}).items()},
    }
