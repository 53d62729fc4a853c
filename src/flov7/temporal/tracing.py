"""The Temporal SDK's OpenTelemetry interceptor, when tracing is on.

``TracingInterceptor`` is a client interceptor and a worker interceptor at once: put
on the client, it is used by every worker built on that client too. It carries the
trace context in Temporal headers, so the workflow's and activities' spans join the
trace of the request that started the run, whichever worker runs them.
"""

from __future__ import annotations

from temporalio.client import Interceptor

from flov7.observability import tracing

__all__ = ["tracing_interceptors"]


def tracing_interceptors() -> list[Interceptor]:
    """``[TracingInterceptor()]`` when :func:`flov7.observability.tracing.enabled`, else []."""
    if not tracing.enabled():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]
