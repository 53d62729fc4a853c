"""Correlation ids: what ties a log line to the request, the run and the node behind it.

An API request gets a request id (its ``X-Request-ID`` header, or a fresh one) that the
API returns in the response header. Starting a run copies it, with the start path
(``trigger``), into the run's memo; the workflow reads it from there and passes it to
every activity with the execution ids, so one search for a request id finds the
request, the run and every node attempt.

The ids live in context variables (:func:`bound`), which asyncio copies into every
task started under them, and :class:`CorrelationFilter` stamps them onto each log
record. Workflow code cannot rely on context variables (the SDK runs it in its own
event loop, and replays it), so it passes them explicitly with ``extra=``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "FIELDS",
    "CorrelationFilter",
    "bound",
    "current",
    "new_request_id",
    "request_id",
    "safe_request_id",
    "trigger",
]

FIELDS: Final = (
    "request_id",
    "execution_id",
    "workflow_id",
    "node_id",
    "node_type",
    "attempt",
)
"""The correlation fields a log line may carry, in the order text logs show them."""

_NOTHING: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "flov7_correlation", default=_NOTHING
)
_trigger: contextvars.ContextVar[str | None] = contextvars.ContextVar("flov7_trigger", default=None)

# A client's X-Request-ID is echoed and logged: accept tokens, not arbitrary text
# (no newlines or quotes to forge log lines with, bounded length).
_SAFE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def new_request_id() -> str:
    """A fresh request id."""
    return uuid.uuid4().hex


def safe_request_id(presented: str | None) -> str:
    """``presented`` if it is a sane token, else a fresh id."""
    if presented and _SAFE_ID.fullmatch(presented):
        return presented
    return new_request_id()


def current() -> dict[str, Any]:
    """The correlation fields bound right now."""
    return dict(_context.get())


def request_id() -> str | None:
    """The request id bound right now, if any."""
    value = _context.get().get("request_id")
    return str(value) if value is not None else None


def trigger() -> str | None:
    """How the run about to start was started (``api``, ``cli``, ...), if known."""
    return _trigger.get()


@contextlib.contextmanager
def bound(*, trigger: str | None = None, **fields: Any) -> Iterator[None]:
    """Bind correlation fields (None values are ignored) for the block."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    trigger_token = _trigger.set(trigger) if trigger is not None else None
    try:
        yield
    finally:
        _context.reset(token)
        if trigger_token is not None:
            _trigger.reset(trigger_token)


class CorrelationFilter(logging.Filter):
    """Adds the bound correlation fields to each record (``extra=`` values win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True
