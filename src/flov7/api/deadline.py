"""One deadline for a whole ``?wait=true`` request, Temporal reachable or not.

``?wait=true&timeout=N`` promises an answer within about N seconds: the run's result if
it closed in time, else the 202 links. Starting the run, recording it and waiting all
count against it. While Temporal is down, a client call can block for longer than N
(the SDK keeps retrying the connection), so every step runs under the remaining time
and the request answers 503 ``temporal_unavailable`` once the deadline has passed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from flov7.api.errors import ServiceUnavailableError

__all__ = ["WAIT_MARGIN_SECONDS", "Deadline"]

T = TypeVar("T")

WAIT_MARGIN_SECONDS = 2.0
"""Time allowed past ``timeout`` for starting the run and rendering the answer."""


class Deadline:
    """``seconds`` (plus :data:`WAIT_MARGIN_SECONDS`) from now, on the running loop."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._loop = asyncio.get_running_loop()
        self._end = self._loop.time() + seconds + WAIT_MARGIN_SECONDS

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self._end - self._loop.time())

    def wait_budget(self) -> float:
        """How long the wait itself may take: what is left, minus the answer's margin."""
        return max(0.0, min(self.seconds, self.remaining() - WAIT_MARGIN_SECONDS / 2))

    async def run(self, step: Awaitable[T], what: str) -> T:
        """``await step``, or 503 once the deadline passes (the step is cancelled)."""
        try:
            # A timeout scope, not wait_for: no task per step (three per request).
            async with asyncio.timeout_at(self._end):
                return await step
        except TimeoutError:
            raise ServiceUnavailableError(
                f"Temporal did not answer in time ({what} took longer than the "
                f"{self.seconds:g}s asked for with ?timeout); the run may have started: "
                "ask for its status, or repeat the request with the same execution_id",
                code="temporal_unavailable",
            ) from None
