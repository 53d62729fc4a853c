"""The hand-written Temporal workflow ``bench/throughput.py`` measures Flov7 against.

The same three steps as the load test's document: the HTTP call as one regular
activity, then the condition and the transform in workflow code. Kept in a module that
imports only temporalio, so that the workflow sandbox re-imports nothing else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

TASK_QUEUE = "bench-throughput-baseline"

_http: Any = None


@activity.defn(name="bench_fetch")
async def bench_fetch(url: str) -> dict[str, Any]:
    """The baseline's one I/O step: GET ``url`` on a shared connection pool."""
    global _http
    if _http is None:
        import httpx

        _http = httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=100))
    response = await _http.get(url)
    return {"status_code": response.status_code, "body": response.json()}


@workflow.defn(name="BenchThreeSteps")
class BenchThreeSteps:
    """The HTTP call as an activity, then the condition and the transform in workflow code."""

    @workflow.run
    async def run(self, url: str) -> dict[str, Any]:
        response = await workflow.execute_activity(
            bench_fetch,
            url,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        if response["status_code"] == 200:  # the condition node
            return {"value": response["body"]["value"], "checked": True}  # the transform
        return {"skipped": True}
