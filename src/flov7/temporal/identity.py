"""Which worker runs what: the identity a worker polls its task queue under.

Temporal's ``activity.info()`` and ``workflow.info()`` carry no worker identity (SDK
1.35), so :func:`flov7.temporal.worker.create_worker` registers it here, per task queue,
for the code it hosts. Activities read it to say who ran an attempt; workflow code reads
it (this module is passed through the sandbox, so both see the same registry) to name
the worker that evaluated a pure node or a timer.

A process-wide registry keyed by task queue: two workers of one process on the same
queue under different identities would share the last one registered.
"""

from __future__ import annotations

_identities: dict[str, str] = {}


def register_worker_identity(task_queue: str, identity: str) -> None:
    """Record that this process's worker on ``task_queue`` polls as ``identity``."""
    _identities[task_queue] = identity


def worker_identity(task_queue: str) -> str | None:
    """The identity of this process's worker on ``task_queue``, if one was registered."""
    return _identities.get(task_queue)
