"""The workflow each load-test run executes: :class:`Workload`.

By default the issue's 3-node workflow, ``api_call`` -> ``condition`` -> ``transform``,
calling the load test's own :class:`~flov7.loadtest.answering_server.AnsweringServer`;
or any workflow file (validated before anything starts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flov7.engine.validate import validate_workflow
from flov7.loadtest.options import LoadTestError

__all__ = ["DEFAULT_WORKFLOW_ID", "Workload", "three_node_document", "workload_from_file"]

DEFAULT_WORKFLOW_ID = "load-test-3-nodes"


@dataclass(frozen=True, slots=True)
class Workload:
    """A workflow document, the input of each run, and what the worker must be allowed."""

    name: str
    """What the report calls it (the file, or the built-in workflow's description)."""
    document: dict[str, Any]
    run_input: dict[str, Any] | None = None
    allowlist: tuple[str, ...] = field(default=())
    """``FLOV7_OUTBOUND_ALLOWLIST`` entries an in-process worker gets for this workload."""

    @property
    def workflow_id(self) -> str:
        """The document's id (the stem of each run's execution id)."""
        return str(self.document.get("id") or "load-test")


def three_node_document(base_url: str) -> dict[str, Any]:
    """The issue's 3-node workflow: fetch ``base_url``/item, check the status, shape it."""
    return {
        "id": DEFAULT_WORKFLOW_ID,
        "name": "Load test: api_call -> condition -> transform",
        "nodes": [
            {
                "id": "fetch",
                "type": "api_call",
                "data": {"url": f"{base_url}/item", "method": "GET"},
            },
            {
                "id": "check",
                "type": "condition",
                "data": {"condition": "inputs.status_code == 200"},
            },
            {
                "id": "shape",
                "type": "transform",
                "data": {
                    "transform_type": "mapping",
                    "mapping": {"value": "nodes.fetch.output.body.value", "checked": "true"},
                },
            },
        ],
        "edges": [
            {"id": "e1", "source": "fetch", "target": "check"},
            {"id": "e2", "source": "check", "target": "shape", "sourceHandle": "true"},
        ],
    }


def default_workload(base_url: str, allowlist_entry: str) -> Workload:
    """The built-in workload against the answering server at ``base_url``."""
    return Workload(
        name="built-in api_call -> condition -> transform",
        document=three_node_document(base_url),
        allowlist=(allowlist_entry,),
    )


def workload_from_file(path: Path) -> Workload:
    """A workflow file as a workload; :class:`LoadTestError` when unreadable or invalid.

    The file's own ``input`` is each run's input; the worker needs whatever the file's
    nodes reach allowed already (``FLOV7_OUTBOUND_ALLOWLIST``).
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LoadTestError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise LoadTestError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(document, dict):
        raise LoadTestError(f"{path} must hold a JSON object (a workflow document)")
    report = validate_workflow(document)
    if not report.valid:
        issues = "; ".join(str(issue.as_dict().get("message")) for issue in report.issues)
        raise LoadTestError(f"{path} is not a valid workflow: {issues}")
    return Workload(name=str(path), document=document)
