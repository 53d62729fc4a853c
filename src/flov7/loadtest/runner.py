"""N runs, at most C at a time: :func:`run_batch` gives a :class:`BatchResult`.

C tasks each take the next run index and drive that run to its end, so that exactly C
runs are in flight until fewer than C are left (a closed loop, as the guide's
``--concurrent`` means). The wall-clock time goes from the first start to the last end.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from flov7.loadtest.drivers import RunDriver, RunSample

__all__ = ["BatchResult", "run_batch"]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The samples of one batch, in run order, and how long it took."""

    samples: tuple[RunSample, ...]
    wall_seconds: float
    concurrency: int

    @property
    def completed(self) -> int:
        """Runs that completed."""
        return sum(1 for sample in self.samples if sample.ok)

    @property
    def failed(self) -> tuple[RunSample, ...]:
        """Runs that did not complete, whatever the reason."""
        return tuple(sample for sample in self.samples if not sample.ok)

    @property
    def throughput(self) -> float:
        """Closed runs per second of wall-clock time (failed ones included)."""
        return len(self.samples) / self.wall_seconds if self.wall_seconds > 0 else 0.0


async def run_batch(driver: RunDriver, workflows: int, concurrency: int) -> BatchResult:
    """Drive ``workflows`` runs with ``concurrency`` of them in flight at once."""
    samples: list[RunSample | None] = [None] * workflows
    indexes = iter(range(workflows))

    async def lane() -> None:
        for index in indexes:  # shared iterator: each index is taken once
            samples[index] = await driver.run_once(index)

    began = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, workflows)):
            group.create_task(lane())
    wall = time.perf_counter() - began
    done = tuple(sample for sample in samples if sample is not None)
    return BatchResult(samples=done, wall_seconds=wall, concurrency=concurrency)
