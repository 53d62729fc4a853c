"""Group commit: the small writes of concurrent requests share one transaction.

Under load every API run writes its record at the start and its final status at the
end, each alone a transaction of its own: a session, BEGIN, one statement, COMMIT (on
SQLite also an fsync and a hand-off to the driver's thread per step). Writes that
arrive while a transaction is in progress wait for it, then go together in the next
one, so N concurrent writes cost about one transaction instead of N. A caller still
returns only once its write is committed: nothing is acknowledged before it is durable.

Only independent single statements go here (an INSERT that skips duplicates, an
UPDATE by key). When a shared transaction fails, each of its writes is tried again in
a transaction of its own, so a write fails only for its own reason (a bad value, a
lock conflict with another process), as it would have alone.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Executable

    from flov7.store.database import Database

__all__ = ["MAX_BATCH", "WriteBatcher", "writing"]

MAX_BATCH = 200
"""Statements per transaction at most (a burst is split, so no transaction grows long)."""

writing: contextvars.ContextVar[bool] = contextvars.ContextVar("flov7_writing", default=False)
"""True inside a write session (:meth:`flov7.store.database.Database.session`)."""


@dataclass
class _Write:
    statement: Executable
    parameters: dict[str, Any]
    done: asyncio.Future[int] = field(repr=False)


@dataclass
class _Queue:
    """One event loop's writes in waiting, and the task writing them."""

    pending: list[_Write] = field(default_factory=list)
    writer: asyncio.Task[None] | None = None


class WriteBatcher:
    """Runs the writes given to :meth:`execute` in as few transactions as the load allows."""

    def __init__(self, database: Database) -> None:
        self.database = database
        # Futures and tasks belong to one loop: each loop has its own queue (a store is
        # sometimes used from several, one after the other or side by side).
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue]
        self._queues = weakref.WeakKeyDictionary()

    async def execute(self, statement: Executable, parameters: dict[str, Any]) -> int:
        """Execute ``statement`` with ``parameters``; its row count, once committed.

        Raises ``RuntimeError`` inside a write session, which the writer would wait for.
        """
        if writing.get():
            raise RuntimeError("a batched write inside a write session would wait for it")
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        write = _Write(statement, parameters, loop.create_future())
        write.done.add_done_callback(_retrieve)
        queue.pending.append(write)
        if queue.writer is None or queue.writer.done():
            # A context of its own: the writer works for every caller, so it must not
            # carry the first one's request id or trace span into the others' SQL.
            queue.writer = loop.create_task(self._write_all(queue), context=contextvars.Context())
        # shield: a caller that gives up (a request's deadline) must not cancel the
        # transaction that carries the others' writes; its own write still lands.
        return await asyncio.shield(write.done)

    async def _write_all(self, queue: _Queue) -> None:
        try:
            while queue.pending:
                batch = queue.pending[:MAX_BATCH]
                del queue.pending[:MAX_BATCH]
                try:
                    counts = await self._transaction(batch)
                except Exception as exc:
                    if len(batch) == 1:
                        _fail(batch[0], exc)
                        continue
                    for write in batch:  # find out whose write it was
                        try:
                            (count,) = await self._transaction([write])
                        except Exception as alone:
                            _fail(write, alone)
                        else:
                            _succeed(write, count)
                else:
                    for write, count in zip(batch, counts, strict=True):
                        _succeed(write, count)
        except BaseException:  # cancelled with its loop: nobody is left to write for
            for write in queue.pending:
                write.done.cancel()
            queue.pending.clear()
            raise

    async def _transaction(self, writes: list[_Write]) -> list[int]:
        counts = []
        async with self.database.session() as session:
            for write in writes:
                result = await session.execute(write.statement, write.parameters)
                # DML results carry rowcount; the Result type does not say so.
                counts.append(int(getattr(result, "rowcount", -1)))
        return counts


def _succeed(write: _Write, count: int) -> None:
    if not write.done.done():
        write.done.set_result(count)


def _fail(write: _Write, exc: Exception) -> None:
    if not write.done.done():
        write.done.set_exception(exc)


def _retrieve(done: asyncio.Future[int]) -> None:
    # A caller that gave up never reads its write's outcome: read it here, so that a
    # failed write it abandoned is not reported as "exception never retrieved".
    if not done.cancelled():
        done.exception()
