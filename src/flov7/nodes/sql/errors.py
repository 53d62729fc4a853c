"""Database failures as :class:`~flov7.errors.NodeExecutionError`.

The split that matters to a workflow is whether trying again can help:

- retryable: the server cannot be reached or dropped the connection, timeouts,
  deadlocks and serialization failures, "too many connections", a locked SQLite file;
- not retryable: everything the statement itself got wrong (syntax, unknown column,
  constraint violation, bad value), authentication, unknown database.

Messages carry the database's own text, redacted, never the SQL parameters: the
databases quote bound values back (PostgreSQL's ``invalid input syntax for type integer:
"<value>"``, a unique violation's ``Key (email)=(<value>)``, asyncpg's ``invalid input
for query argument $1: '<value>'``), so :func:`hide_parameters` masks every bound value
of the node's config in the text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import exc as sa_exc

from flov7.errors import NodeExecutionError

__all__ = ["hide_parameters", "parameter_texts", "translate_error"]

PARAMETER_MASK = "<parameter>"
"""What a bound value is replaced with in an error message."""
_SHORT_VALUE = 4
"""Values shorter than this are masked only where quoted, so ``1`` does not garble a
message's line numbers."""

# SQLSTATE classes/codes (PostgreSQL, also reported by MySQL drivers) worth retrying.
_RETRY_SQLSTATE_CLASSES = ("08", "53", "58")
_RETRY_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "57014"})

# MySQL / MariaDB error numbers worth retrying: connection trouble, server shutting
# down, too many connections, lock wait timeout, deadlock, connection killed.
_RETRY_MYSQL_ERRNOS = frozenset({1040, 1053, 1205, 1213, 1927, 2002, 2003, 2005, 2006, 2013, 2055})

_RETRY_SQLITE_ERRORS = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR"})


# Driver packages whose exceptions can escape SQLAlchemy unwrapped (asyncpg raises its
# own errors while a server-side cursor is being read).
_DRIVER_MODULES = frozenset({"asyncpg", "pymysql", "aiomysql", "sqlite3", "aiosqlite"})


def translate_error(
    exc: BaseException, *, connection: str, redact: Callable[[str], str]
) -> NodeExecutionError | None:
    """The node error for ``exc``, or None when ``exc`` is not a database failure."""
    if isinstance(exc, sa_exc.DBAPIError):
        return _driver_error(exc.orig, exc.connection_invalidated, connection, redact)
    if type(exc).__module__.split(".")[0] in _DRIVER_MODULES:
        return _driver_error(exc, False, connection, redact)
    if isinstance(exc, TimeoutError | OSError):
        # Raised before SQLAlchemy wraps anything (e.g. asyncpg's connection refused).
        return NodeExecutionError(
            redact(f"Cannot reach database {connection!r}: {_describe(exc)}"),
            error_type="DatabaseConnectionError",
            retryable=True,
        )
    if isinstance(exc, sa_exc.StatementError | sa_exc.ArgumentError):
        # Raised by SQLAlchemy before the database sees anything (e.g. a :param with no value).
        message = str(exc.orig) if isinstance(exc, sa_exc.StatementError) and exc.orig else None
        return NodeExecutionError(
            redact(f"Invalid statement for {connection!r}: {message or _first_line(exc)}"),
            error_type="DatabaseError",
            retryable=False,
        )
    return None


def _driver_error(
    error: BaseException | None,
    invalidated: bool,
    connection: str,
    redact: Callable[[str], str],
) -> NodeExecutionError:
    # SQLAlchemy's asyncpg adapter wraps asyncpg's exception: the original is the cause.
    inner: Any = error.__cause__ if error is not None and error.__cause__ is not None else error
    sqlstate = _attribute(error, inner, "sqlstate") or _attribute(error, inner, "pgcode")
    args: tuple[Any, ...] = getattr(error, "args", ())
    errno = args[0] if len(args) >= 2 and isinstance(args[0], int) else None
    sqlite_error = getattr(error, "sqlite_errorname", None)
    connection_trouble = (
        invalidated
        or isinstance(inner, OSError | TimeoutError)
        # asyncpg: ConnectionDoesNotExistError, ConnectionFailureError...
        or (sqlstate is None and "Connection" in type(inner).__name__)
    )
    retryable = (
        connection_trouble
        or (isinstance(sqlstate, str) and _retry_sqlstate(sqlstate))
        or errno in _RETRY_MYSQL_ERRNOS
        or sqlite_error in _RETRY_SQLITE_ERRORS
    )
    details: dict[str, object] = {}
    code = sqlstate or errno or sqlite_error
    if code is not None:
        details["code"] = code
    message = _driver_message(error, errno)
    detail = getattr(inner, "detail", None)  # asyncpg: e.g. "Key (email)=(x) already exists."
    if isinstance(detail, str) and detail:
        message = f"{message} ({detail})"
    return NodeExecutionError(
        redact(f"Database error on {connection!r}: {message}"),
        error_type="DatabaseConnectionError" if connection_trouble else "DatabaseError",
        retryable=bool(retryable),
        details=details,
    )


def _attribute(error: Any, inner: Any, name: str) -> str | None:
    for candidate in (error, inner):
        value = getattr(candidate, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def _retry_sqlstate(sqlstate: str) -> bool:
    return sqlstate in _RETRY_SQLSTATES or sqlstate.startswith(_RETRY_SQLSTATE_CLASSES)


def _driver_message(orig: Any, errno: int | None) -> str:
    if orig is None:
        return "unknown error"
    if errno is not None:  # pymysql: args = (errno, message)
        return f"({errno}) {orig.args[1]}"
    return _first_line(orig) or type(orig).__name__


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else ""


def parameter_texts(*values: Any) -> list[str]:
    """The text forms of every scalar in ``values`` (nested dicts and lists walked)."""
    texts: list[str] = []
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
        elif value is not None and not isinstance(value, bool):
            text = str(value)
            if text:
                texts.append(text)
                if isinstance(value, bytes | bytearray):
                    texts.append(repr(value))
    # Longest first, so a value containing another is masked whole.
    return sorted(set(texts), key=lambda text: (-len(text), text))


def hide_parameters(message: str, texts: list[str]) -> str:
    """``message`` with every bound value in ``texts`` replaced by :data:`PARAMETER_MASK`."""
    for text in texts:
        if len(text) >= _SHORT_VALUE:
            message = message.replace(text, PARAMETER_MASK)
            continue
        for opening, closing in (('"', '"'), ("'", "'"), ("(", ")")):
            message = message.replace(f"{opening}{text}{closing}", PARAMETER_MASK)
    return message
