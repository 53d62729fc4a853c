"""The Temporal SDK's own metrics (``temporal_*``), through its Prometheus exporter.

The SDK's Rust core measures what only it can see: task slots used and available,
poll latencies, sticky cache hits, workflow task and activity execution latencies,
request failures. ``FLOV7_TEMPORAL_METRICS_PORT`` turns its Prometheus exporter on,
on ``FLOV7_METRICS_HOST``; Flov7's own ``flov7_*`` metrics stay on ``/metrics`` (the
API port, or ``FLOV7_METRICS_PORT`` for ``flov7 worker``).

The exporter belongs to the SDK *runtime*, which every client and worker of the
process shares: :func:`install_sdk_metrics` must run before the first client connects.
"""

from __future__ import annotations

import logging

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from flov7.config import Flov7Settings

__all__ = ["install_sdk_metrics"]

log = logging.getLogger(__name__)


def install_sdk_metrics(settings: Flov7Settings) -> str | None:
    """Export the SDK's metrics as the settings say; the ``host:port`` it binds, or None.

    A port that cannot be bound is logged and skipped: metrics must not stop a worker.
    """
    if not settings.temporal_metrics_port:
        return None
    address = f"{settings.metrics_host}:{settings.temporal_metrics_port}"
    try:
        runtime = Runtime(
            telemetry=TelemetryConfig(
                # Names as Prometheus expects them: counters end in _total, durations
                # are seconds (the SDK's defaults are milliseconds without suffixes).
                metrics=PrometheusConfig(
                    bind_address=address, counters_total_suffix=True, durations_as_seconds=True
                )
            )
        )
    except Exception as exc:  # the bridge raises a bare RuntimeError (port in use)
        log.warning("Cannot export Temporal SDK metrics on %s (%s): they are off", address, exc)
        return None
    Runtime.set_default(runtime, error_if_already_set=False)
    return address
