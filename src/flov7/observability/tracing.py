"""Optional OpenTelemetry tracing: one trace from the API request to each outbound call.

Off by default. ``FLOV7_OTLP_ENDPOINT=http://collector:4318`` turns it on for the
process (``flov7 serve``, ``flov7 worker``, ``flov7 run``): spans go to that OTLP/HTTP
collector, batched. Three instrumentations make the tree:

- the FastAPI instrumentation: a server span per API request (:func:`instrument_app`);
- the Temporal SDK's ``TracingInterceptor`` on the client and worker
  (:mod:`flov7.temporal.tracing`): spans for starting the workflow, running it, and each
  activity, linked to the request through Temporal headers;
- the HTTPX instrumentation on the nodes' HTTP clients (:func:`traced_transport`): a
  client span per outbound call, with ``traceparent`` sent along.

The OpenTelemetry packages are the ``tracing`` extra (``pip install flov7[tracing]``):
nothing here imports them unless tracing is turned on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = [
    "configure_tracing",
    "disable_tracing",
    "enabled",
    "instrument_app",
    "traced_transport",
]

log = logging.getLogger(__name__)

SERVICE_NAME = "flov7"
_state: dict[str, Any] = {"enabled": False}


def enabled() -> bool:
    """Whether :func:`configure_tracing` turned tracing on in this process."""
    return bool(_state["enabled"])


def configure_tracing(
    endpoint: str | None,
    *,
    exporter: SpanExporter | None = None,
    service_name: str = SERVICE_NAME,
) -> bool:
    """Turn tracing on, exporting to the OTLP/HTTP ``endpoint`` (or to ``exporter``,
    synchronously: tests use an in-memory one). Returns whether tracing is on.

    Call it once, early, before clients are made: OpenTelemetry's tracer provider is
    process-wide and set once.
    """
    if endpoint is None and exporter is None:
        return enabled()
    if enabled() and exporter is None:
        return True
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        log.warning(
            "FLOV7_OTLP_ENDPOINT is set but OpenTelemetry is not installed "
            "(pip install 'flov7[tracing]'): tracing is off"
        )
        return False
    current = trace.get_tracer_provider()
    # The global provider can be set once per process: add to ours if it is there.
    provider = (
        current
        if isinstance(current, TracerProvider)
        else TracerProvider(resource=Resource.create({"service.name": service_name}))
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert endpoint is not None
        otlp = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(otlp))
    if provider is not current:
        trace.set_tracer_provider(provider)
    _state["enabled"] = True
    return True


def disable_tracing() -> None:
    """Stop instrumenting what is made from now on (apps, clients, HTTP transports).

    What was instrumented stays so. For tests, which turn tracing on for a while in a
    process that goes on without it.
    """
    _state["enabled"] = False


def instrument_app(app: FastAPI) -> None:
    """A server span per request of ``app`` (when tracing is on)."""
    if enabled():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app)


def traced_transport(transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    """``transport`` with a client span per request (when tracing is on)."""
    if not enabled():
        return transport
    from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport

    return AsyncOpenTelemetryTransport(transport)
