"""Keep capability tokens out of the access log.

Approval links and token hooks carry their permission in the path (``/approve/{token}``,
``/hooks/{hook_id}/{token}``); uvicorn's
access log (logger ``uvicorn.access``) writes every request path, so a log reader could
decide in a person's place. :func:`redact_capability_paths` installs a filter that
logs those paths as ``/approve/<redacted>`` and ``/hooks/{hook_id}/<redacted>``.
"""

from __future__ import annotations

import logging
import re

__all__ = ["CapabilityPathFilter", "redact_capability_paths"]

_CAPABILITY_PATH = re.compile(r"^(/(?:approve|reject)/|/hooks/[^/?#]+/)[^?#]*")


class CapabilityPathFilter(logging.Filter):
    """Rewrites the path argument of uvicorn access records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(
                _CAPABILITY_PATH.sub(r"\1<redacted>", arg) if isinstance(arg, str) else arg
                for arg in args
            )
        return True


def redact_capability_paths(logger_name: str = "uvicorn.access") -> None:
    """Install the filter once on ``logger_name``."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, CapabilityPathFilter) for f in logger.filters):
        logger.addFilter(CapabilityPathFilter())
