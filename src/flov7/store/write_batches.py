"""Group commit: the small writes of concurrent requests share one transaction.

Under load every API run writes its record at the start and its final status at the
end, each alone a transaction of its own: a session, BEGIN, one statement, COMMIT (on
SQLite also an fsync and a hand-off to the driver's thread per step). Writes that
arrive while a transaction is in progress wait for it, then go together in the next
one, so N concurrent writes cost about one transaction instead of N. A caller still
returns only once its write is committed: nothing is acknowledged before it is durable.

Only independent single statements go here (an INSERT that skips duplicates, an
UPDATE by key): when the transaction fails, every write in it fails with the same
error, as each would have alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Executable

    from flov7.store.database import Database

__all__ = ["WriteBatcher"]

MAX_BATCH = 200
"""Statements per transaction at most (a burst is split, so no transaction grows long)."""


@dataclass
class _Write:
    statement: Executable
    parameters: dict[str, Any]
    done: asyncio.Future[int] = field(repr=False)


class WriteBatcher:
    """Runs the writes given to :meth:`execute` in as few transactions as the load allows."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._pending: list[_Write] = []
        self._writer: asyncio.Task[None] | None = None

    async def execute(self, statement: Executable, parameters: dict[str, Any]) -> int:
        """Execute ``statement`` with ``parameters`` once committed; its row count."""
        loop = asyncio.get_running_loop()
        write = _Write(statement, parameters, loop.create_future())
        write.done.add_done_callback(_retrieve)
        if self._writer is not None and self._writer.get_loop() is not loop:
            # A database reused from another event loop (a CLI's second asyncio.run):
            # whatever that loop left is gone with it.
            self._writer, self._pending = None, []
        self._pending.append(write)
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_all())
        # shield: a caller that gives up (a request's deadline) must not cancel the
        # transaction that carries the others' writes.
        return await asyncio.shield(write.done)

    async def _write_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                counts = []
                async with self.database.session() as session:
                    for write in batch:
                        result = await session.execute(write.statement, write.parameters)
                        counts.append(int(getattr(result, "rowcount", -1)))
            except BaseException as exc:
                for write in batch:
                    if not write.done.done():
                        write.done.set_exception(exc)
                if not isinstance(exc, Exception):  # cancelled with the loop: stop here
                    for write in self._pending:
                        write.done.cancel()
                    self._pending = []
                    raise
            else:
                for write, count in zip(batch, counts, strict=True):
                    if not write.done.done():
                        write.done.set_result(count)


def _retrieve(done: asyncio.Future[int]) -> None:
    # A caller that gave up never reads its write's outcome: read it here, so that a
    # failed write it abandoned is not reported as "exception never retrieved".
    if not done.cancelled():
        done.exception()
