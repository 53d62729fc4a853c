"""Temporal settings, where the integration guide puts them (``app/temporal/config.py``).

The settings themselves live in :mod:`flov7.config`, next to the rest of Flov7's
settings; this module re-exports the Temporal part so that both import paths work::

    from flov7.temporal.config import get_temporal_settings
    settings = get_temporal_settings()
    settings.task_queue, settings.workflow_timeout, settings.execution_defaults()
"""

from __future__ import annotations

from flov7.config import (
    DEFAULT_TASK_QUEUE,
    MAX_RETRY_INTERVAL_SECONDS,
    TemporalSettings,
    get_settings,
)

__all__ = [
    "DEFAULT_TASK_QUEUE",
    "MAX_RETRY_INTERVAL_SECONDS",
    "TemporalSettings",
    "get_temporal_settings",
]


def get_temporal_settings() -> TemporalSettings:
    """The process-wide Temporal settings (cached; see :func:`flov7.config.get_settings`)."""
    return get_settings().temporal
