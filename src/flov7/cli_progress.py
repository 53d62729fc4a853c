"""Per-node progress lines for ``flov7 run`` (printed on stderr)."""

from __future__ import annotations

from typing import Any, TextIO

from flov7.runs.views import NodeView, RunStatus

_SYMBOLS = {
    "running": "->",
    "completed": "ok",
    "failed": "!!",
    "skipped": "--",
    "cancelled": "xx",
}


class ProgressPrinter:
    """Prints one line per node status change between two status snapshots."""

    def __init__(self, stream: TextIO, *, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self._seen: dict[str, str] = {}
        self._reason: str | None = None

    def _print(self, line: str) -> None:
        if self.enabled:
            print(line, file=self.stream, flush=True)

    def started(self, execution_id: str, target: str, ui_url: str | None) -> None:
        """The run was accepted by Temporal."""
        where = (
            f" (Temporal UI: {ui_url}/namespaces/default/workflows/{execution_id})"
            if ui_url
            else ""
        )
        self._print(f"run {execution_id} started on {target}{where}")

    def joined(self, execution_id: str) -> None:
        """The execution id named an existing run: that run is followed, none started."""
        self._print(f"run {execution_id} already exists: following it (no new run started)")

    def started_locally(self, execution_id: str) -> None:
        """The run started in this process (ENABLE_TEMPORAL_FEATURES=false)."""
        self._print(
            f"run {execution_id} started in-process (ENABLE_TEMPORAL_FEATURES=false: "
            "not durable, it stops if this process stops)"
        )

    def handed_to(self, workers: list[str]) -> None:
        """The run goes to workers of other processes, whose settings apply."""
        names = ", ".join(workers) if workers else "a worker of another process"
        self._print(
            f"run handed to {names}: that worker's own settings (FLOV7_OUTBOUND_ALLOWLIST, "
            "databases, credentials, LLM endpoints) apply there, not this shell's"
        )

    def update(self, status: RunStatus) -> None:
        """Report every node whose status changed since the last snapshot."""
        if status.status == "pending" and status.reason and self._reason != status.reason:
            self._reason = status.reason
            self._print(f"run pending: {status.reason}")
        # Temporal's JSON sorts keys; show nodes in the order things happened instead.
        # Nodes finished in one workflow task share a timestamp: the path breaks ties.
        path = {node_id: index for index, node_id in enumerate(status.execution_path)}
        ordered = sorted(
            status.nodes.items(),
            key=lambda item: (
                item[1].finished_at or item[1].started_at or "~",
                path.get(item[0], len(path)),
            ),
        )
        for node_id, node in ordered:
            state = node.status or "pending"
            if state == "pending" or self._seen.get(node_id) == state:
                continue
            self._seen[node_id] = state
            self._print(self._line(node_id, node, state))

    def finished(self, result: dict[str, Any]) -> None:
        """The run's final line, with the failing node's error when there is one."""
        status = result.get("status")
        counts = (
            f"{result.get('completed_nodes', 0)} completed, {result.get('failed_nodes', 0)} "
            f"failed, {result.get('skipped_nodes', 0)} skipped of {result.get('total_nodes', 0)}"
        )
        self._print(f"run {status}: {counts}")
        error = result.get("error")
        if status != "completed" and error:
            where = f"node '{error['node_id']}': " if error.get("node_id") else ""
            attempts = f" after {error['attempts']} attempt(s)" if error.get("attempts") else ""
            print(
                f"error: {where}{error.get('type', 'Error')}: {error.get('message')}{attempts}",
                file=self.stream,
                flush=True,
            )

    @staticmethod
    def _line(node_id: str, node: NodeView, state: str) -> str:
        label = f"{_SYMBOLS.get(state, '  ')} {node_id}"
        if node.type:
            label += f" ({node.type})"
        detail = state
        if state == "failed" and node.error:
            detail += f": {node.error.get('message')}"
        if (node.attempts or 0) > 1:
            detail += f" [attempts: {node.attempts}]"
        return f"  {label} {detail}"
