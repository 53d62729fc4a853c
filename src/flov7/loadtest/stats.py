"""Latency percentiles: :func:`summarise` turns samples into a :class:`LatencySummary`."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LatencySummary", "percentile", "summarise"]


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) percentile of sorted samples, linearly interpolated
    between the two nearest ranks (numpy's default method)."""
    if not ordered:
        raise ValueError("no samples")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within 0..1, got {fraction}")
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Seconds: mean, p50, p95, p99 and max of ``count`` samples (all None without any)."""

    count: int
    mean: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None


def summarise(samples: Sequence[float]) -> LatencySummary:
    """The summary of ``samples`` (seconds, any order)."""
    if not samples:
        return LatencySummary(count=0)
    ordered = sorted(samples)
    return LatencySummary(
        count=len(ordered),
        mean=statistics.fmean(ordered),
        p50=percentile(ordered, 0.50),
        p95=percentile(ordered, 0.95),
        p99=percentile(ordered, 0.99),
        max=ordered[-1],
    )
