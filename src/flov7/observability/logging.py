"""Logging setup: readable text by default, one JSON object per line with ``json``."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from temporalio.exceptions import ApplicationError

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """Structured logs: time, level, logger, message, and any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ExpectedActivityFailureFilter(logging.Filter):
    """Drops the SDK's "Completing activity as failed" record for a node failure.

    A Flov7 activity turns every failure into an ``ApplicationError`` after logging one
    line about it (execution, node, attempt, cause). The SDK then logs the same failure
    again at WARNING with an 18-line traceback, for an HTTP 404 as for a bug. With the
    level at DEBUG the record is kept, traceback and all.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        if not record.getMessage().startswith("Completing activity as failed"):
            return True
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, ApplicationError)


_EXPECTED_FAILURES = ExpectedActivityFailureFilter()


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Configure the root logger once, on stderr (stdout carries command results).

    ``DEBUG`` (``FLOV7_LOG_LEVEL=DEBUG`` or ``TEMPORAL_DEBUG=true``) also turns on the
    Temporal SDK's and httpx's own logs, tracebacks of expected node failures included.
    """
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SDK logs workflow task failures with a traceback at WARNING: keep those, but
    # its INFO lines (worker start/stop) are noise for a CLI user unless debugging.
    debug = str(level).upper() == "DEBUG"
    sdk_level = logging.DEBUG if debug else logging.WARNING
    logging.getLogger("temporalio").setLevel(sdk_level)
    # httpx logs every request at INFO: the nodes say what matters about theirs.
    logging.getLogger("httpx").setLevel(logging.DEBUG if debug else logging.WARNING)
    activity_logger = logging.getLogger("temporalio.activity")
    if _EXPECTED_FAILURES not in activity_logger.filters:
        activity_logger.addFilter(_EXPECTED_FAILURES)
