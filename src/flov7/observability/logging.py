"""Logging setup: one event per line, JSON for machines, readable text in a terminal.

``FLOV7_LOG_FORMAT=auto`` (the default) writes JSON when stderr is not a terminal (a
container, a service manager, a pipe) and text when it is; ``json`` / ``text`` force
one. Every line carries the correlation fields bound where it was logged (request id,
execution id, workflow id, node id and type, attempt: :mod:`flov7.observability.correlation`),
and every secret value registered with :func:`register_secrets` is masked out of it.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from temporalio.exceptions import ApplicationError

from flov7.observability.correlation import FIELDS, CorrelationFilter

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
        elif record.exc_text:
            entry["exception"] = record.exc_text
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
    ``fmt``: ``json``, ``text``, or ``auto`` (JSON unless stderr is a terminal).
    """
    handler = log_handler(sys.stderr, fmt)
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
    # ...except the loggers that workflow and activity code log through (Flov7's run
    # and node lifecycle events): those follow FLOV7_LOG_LEVEL.
    for name in ("temporalio.workflow", "temporalio.activity"):
        logging.getLogger(name).setLevel(level)


def log_handler(stream: Any, fmt: str = "auto") -> logging.Handler:
    """A handler writing Flov7's log lines to ``stream``: the format ``fmt`` resolves
    to, the correlation fields, secrets masked."""
    handler = logging.StreamHandler(stream)
    if resolve_format(fmt, stream) == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    # On the handler, not a logger: handler filters see records of every logger.
    handler.addFilter(CorrelationFilter())
    handler.addFilter(SecretFilter())
    return handler


def resolve_format(fmt: str, stream: Any) -> str:
    """``json`` or ``text``: ``auto`` picks text for a terminal, JSON for anything else."""
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "text" if callable(isatty) and isatty() else "json"


class TextFormatter(logging.Formatter):
    """Readable lines; correlation fields follow the message as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{key}={vars(record)[key]}" for key in FIELDS if key in vars(record)]
        return f"{line} [{' '.join(fields)}]" if fields else line


# Secret values masked out of every log line (API keys, credentials, encryption keys),
# longest first, so that a secret containing another is masked whole.
_secrets: tuple[str, ...] = ()
_secrets_lock = threading.Lock()
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
MASK = "***"


def register_secrets(values: Iterable[str]) -> None:
    """Mask these values out of every log line from now on (values too short to be
    told from ordinary text are ignored; the settings refuse such secrets anyway)."""
    global _secrets
    with _secrets_lock:
        known = set(_secrets) | {value for value in values if len(value) >= _MIN_SECRET_LENGTH}
        _secrets = tuple(sorted(known, key=len, reverse=True))


def mask_secrets(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class SecretFilter(logging.Filter):
    """Masks registered secrets in the message, its arguments and the traceback.

    The last line of defence: code must not log secrets in the first place, but a
    driver's exception text or a third-party library's debug line may quote one.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
            record.exc_info = None  # formatters would render it again, unmasked
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, mask_secrets(value))
        return True
