"""The Flov7 exception hierarchy: every error Flov7 raises on purpose, in one tree.

Each carries a message that says what to do about it. The tree (classes defined here
unless a module is named; those live next to the code that raises them and derive
from a class of this module)::

    Flov7Error
    ├── ConfigError                      a setting is missing or malformed
    │   └── BindingRefusedError          flov7.api.server: open port without API keys
    ├── ExpressionError                  an expression or template is refused or fails
    ├── WorkflowDocumentError            a document does not parse into a WorkflowSpec
    ├── InvalidWorkflowError             a document does not validate (carries the report)
    ├── TemporalConnectionError          the Temporal server cannot be reached
    │   └── DevServerError               flov7.temporal.devserver: embedded server failed
    ├── NoWorkerError                    nobody polls the task queue
    ├── NodeExecutionError               a node failed (id, attempt, cause)
    │   └── OutboundBlockedError         flov7.security.ssrf: the SSRF guard refused
    ├── RunServiceError                  the run service (flov7.runs) refused or failed
    │   ├── ExecutionNotFoundError       no run has this execution id            (404)
    │   ├── ExecutionAlreadyClosedError  the run is closed already               (409)
    │   ├── ExecutionConflictError       the id names a run of another document  (409)
    │   ├── InvalidQueryError            a filter or page token is unusable      (400)
    │   ├── EngineUnavailableError       the engine cannot be reached            (503)
    │   └── RunEndedError                the engine ended a run without a result
    ├── StoreError                       flov7.store.database: the store cannot be used
    ├── RepositoryError                  flov7.store.repository
    │   ├── WorkflowNotFoundError
    │   ├── WorkflowExistsError
    │   └── VersionConflictError
    └── ApiError                         flov7.api.errors: an HTTP answer on purpose
        ├── BadRequestError, UnauthorizedError, NotFoundError, ConflictError,
        └── PayloadTooLargeError, ServiceUnavailableError

No two classes in the tree share a name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flov7.engine.validate import ValidationReport

__all__ = [
    "ConfigError",
    "EngineUnavailableError",
    "ExecutionAlreadyClosedError",
    "ExecutionConflictError",
    "ExecutionNotFoundError",
    "ExpressionError",
    "Flov7Error",
    "InvalidQueryError",
    "InvalidWorkflowError",
    "NoWorkerError",
    "NodeExecutionError",
    "RunEndedError",
    "RunServiceError",
    "TemporalConnectionError",
    "WorkflowDocumentError",
]


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


class InvalidWorkflowError(Flov7Error):
    """The document did not validate; nothing was started. ``report`` lists why."""

    def __init__(self, report: ValidationReport, message: str | None = None) -> None:
        super().__init__(message or "Invalid workflow: " + report.summary().replace("\n", " "))
        self.report = report


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


class RunServiceError(Flov7Error):
    """Base of the errors the run service (:mod:`flov7.runs`) raises on purpose."""


class ExecutionNotFoundError(RunServiceError):
    """No Flov7 run has this execution id."""


class ExecutionAlreadyClosedError(RunServiceError):
    """The run is closed already (cancel or terminate of a finished run)."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


class ExecutionConflictError(RunServiceError):
    """The execution id names a run of another document or input: nothing started.

    The same document and input join the existing run instead (idempotent start).
    """


class RunInputTooLargeError(RunServiceError):
    """Temporal refused the run's input (document and run input) as too large: nothing
    started. The message gives its size and what to do."""


class InvalidQueryError(RunServiceError):
    """A filter or page token the engine cannot use; the message says which."""


class EngineUnavailableError(RunServiceError):
    """The engine cannot be reached (Temporal down, network); the message says why."""


class RunEndedError(RunServiceError):
    """The engine ended the run without a result document (timeout, terminate)."""

    def __init__(self, message: str, *, status: str = "failed", details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.details = details
