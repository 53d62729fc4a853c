"""Preparing a rerun: the closed original, its stored workflow, and what to keep.

Shared by ``POST /api/v1/workflow/rerun/{id}`` and ``flov7 rerun``. The new run
executes the stored workflow (the version the original ran, or the latest) with the
original's input (or a new one); the engine keeps the recorded outcome of every node
upstream of the restart point (:mod:`flov7.engine.rerun`), on either engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from flov7.engine.rerun import RerunError, plan_rerun
from flov7.errors import Flov7Error
from flov7.runs.contract import ExecutionBackend
from flov7.store.repository import Repository

__all__ = ["PreparedRerun", "RerunRefused", "prepare_rerun"]


class RerunRefused(Flov7Error):
    """The rerun cannot start; ``reason`` is ``open``, ``no_result``,
    ``not_a_stored_workflow`` or ``invalid_rerun``."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PreparedRerun:
    """What to start: the planned document, its input and its labels."""

    document: dict[str, Any]
    run_input: dict[str, Any]
    workflow_id: str
    version: int
    rerun_of: str


async def prepare_rerun(
    backend: ExecutionBackend,
    repository: Repository,
    execution_id: str,
    *,
    start_from: str = "failed",
    version: Literal["same", "latest"] = "same",
    run_input: dict[str, Any] | None = None,
) -> PreparedRerun:
    """The rerun of ``execution_id`` from ``start_from`` (``failed``, ``start``, a node).

    Raises :class:`~flov7.errors.ExecutionNotFoundError` for an unknown run,
    :class:`RerunRefused` when the run is open, has no result document, ran an inline
    document, or the restart point makes no sense.
    """
    original = await backend.status(execution_id)
    if not original.closed:
        raise RerunRefused(
            f"Execution '{execution_id}' is still {original.status}: rerun it once it has "
            "closed (or cancel it first)",
            reason="open",
        )
    result = original.result
    if result is None:
        # An engine may rebuild what a run without a result document had recorded
        # (Temporal: its history, replayed by a worker for a query).
        recorded_result = getattr(backend, "recorded_result", None)
        result = await recorded_result(execution_id) if recorded_result is not None else None
    if result is None:
        raise RerunRefused(
            f"Execution '{execution_id}' ended {original.status} without a result document "
            "to rerun from; start it again instead",
            reason="no_result",
        )
    record = await repository.get_execution(execution_id)
    workflow_id = record.workflow_id if record is not None else original.workflow_id
    ran_version = record.version if record is not None else original.version
    if workflow_id is None or ran_version is None:
        raise RerunRefused(
            f"Execution '{execution_id}' ran an inline document: only runs of stored "
            "workflows can be rerun",
            reason="not_a_stored_workflow",
        )
    if version == "latest":
        stored = await repository.get_workflow(workflow_id)
        document, chosen = stored.document or {}, stored.current_version
    else:
        found = await repository.get_version(workflow_id, ran_version)
        document, chosen = found.document or {}, ran_version
    try:
        planned = plan_rerun(document, result, start_from, original_execution_id=execution_id)
    except RerunError as exc:
        raise RerunRefused(str(exc), reason="invalid_rerun") from exc
    recorded_input = result.get("input")
    chosen_input = run_input if run_input is not None else recorded_input
    return PreparedRerun(
        document=planned,
        run_input=chosen_input if isinstance(chosen_input, dict) else {},
        workflow_id=workflow_id,
        version=chosen,
        rerun_of=execution_id,
    )
