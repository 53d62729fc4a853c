"""Reading a run's result document from Temporal, whatever the run's Temporal status."""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowFailureError, WorkflowHandle

from flov7.temporal.executions import result_of_closed_run


async def result_document(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """The result document of a run that ended Completed, Failed or Canceled.

    Failed runs carry it in their failure's details, Canceled runs answer the
    ``get_result`` query; any other end (timeout, invalid document) re-raises.
    """
    try:
        result = await handle.result()
    except WorkflowFailureError as exc:
        document = await result_of_closed_run(handle, exc)
        if document is None:
            raise
        return document
    assert isinstance(result, dict)
    return result
