"""The Flov7 exception hierarchy.

Every error a user can see derives from :class:`Flov7Error` and carries a message that
says what to do about it.
"""

from __future__ import annotations


class Flov7Error(Exception):
    """Base class of every error Flov7 raises on purpose."""


class ConfigError(Flov7Error):
    """A setting is missing or malformed (environment or ``.env``)."""


class ExpressionError(Flov7Error):
    """An expression or ``{{ }}`` template is invalid, refused, or failed to evaluate."""


class WorkflowDocumentError(Flov7Error):
    """A workflow document does not parse into a :class:`flov7.spec.WorkflowSpec`."""

    def __init__(self, message: str, *, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []
        """``(location, message)`` pairs, one per malformed field."""


class TemporalConnectionError(Flov7Error):
    """The Temporal server cannot be reached."""


class NoWorkerError(Flov7Error):
    """Nobody polls the task queue, so a started workflow would wait forever."""


class NodeExecutionError(Flov7Error):
    """A node failed; carries the node id, the attempt count and the cause."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str = "NodeError",
        retryable: bool = True,
        details: dict[str, object] | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.retryable = retryable
        self.details = details or {}
        self.retry_after_seconds = retry_after_seconds
        """A server-requested delay before the next attempt (``Retry-After``)."""
