"""Database URLs: plain ``postgresql://`` / ``mysql://`` / ``sqlite:///`` to async drivers.

Users paste the URLs their other tools use. SQLAlchemy needs an async driver in the
scheme (``postgresql+asyncpg``), and asyncpg does not understand two libpq query
parameters people commonly add, so they are translated here:

- ``sslmode=require`` becomes asyncpg's ``ssl=require`` (same mode names);
- ``options=-c search_path=app`` (and any other ``-c name=value``) becomes asyncpg
  ``server_settings``, which is how a connection is pointed at a non-public schema.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from flov7.errors import NodeExecutionError

__all__ = ["AsyncDatabaseUrl", "to_async_url"]

# Scheme (without driver) -> the async driver Flov7 ships with.
_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "sqlite": "sqlite+aiosqlite",
}


@dataclass(frozen=True)
class AsyncDatabaseUrl:
    """A URL SQLAlchemy's async engine accepts, plus driver-specific connect arguments."""

    url: URL
    connect_args: dict[str, Any] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        """``postgresql``, ``mysql`` or ``sqlite``."""
        return self.url.get_backend_name()

    def display(self) -> str:
        """The URL with its password masked, safe for messages and logs."""
        return self.url.render_as_string(hide_password=True)


def to_async_url(raw: str) -> AsyncDatabaseUrl:
    """Parse ``raw`` and switch it to the async driver of its backend.

    Raises a non-retryable :class:`NodeExecutionError` for an unparsable URL or an
    unsupported backend; the message never contains the password.
    """
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError) as exc:
        # The message of a parse error may quote the URL, so it is not reused.
        raise NodeExecutionError(
            "Invalid database URL (expected e.g. postgresql://user:pass@host/db, "
            "mysql://user:pass@host/db or sqlite:///path/to/file.db)",
            error_type="DatabaseConfigError",
            retryable=False,
        ) from exc
    backend = url.get_backend_name()
    driver = _ASYNC_DRIVERS.get(backend)
    if driver is None:
        raise NodeExecutionError(
            f"Unsupported database backend {backend!r}: use postgresql://, mysql:// "
            "(MySQL or MariaDB) or sqlite:///",
            error_type="DatabaseConfigError",
            retryable=False,
        )
    url = url.set(drivername=driver)
    if driver == "postgresql+asyncpg":
        return _asyncpg_url(url)
    return AsyncDatabaseUrl(url)


def _asyncpg_url(url: URL) -> AsyncDatabaseUrl:
    query = dict(url.query)
    connect_args: dict[str, Any] = {}
    sslmode = query.pop("sslmode", None)
    if sslmode is not None:
        query["ssl"] = sslmode
    options = query.pop("options", None)
    if options is not None:
        text = options if isinstance(options, str) else " ".join(options)
        connect_args["server_settings"] = _server_settings(text)
    return AsyncDatabaseUrl(url.set(query=query), connect_args)


def _server_settings(options: str) -> dict[str, str]:
    """``-c search_path=app -c statement_timeout=5s`` -> ``{"search_path": "app", ...}``."""
    settings: dict[str, str] = {}
    words = shlex.split(options)
    index = 0
    while index < len(words):
        word = words[index]
        if word == "-c" and index + 1 < len(words):
            assignment = words[index + 1]
            index += 2
        elif word.startswith("-c") or word.startswith("--"):
            assignment = word[2:]
            index += 1
        else:
            raise NodeExecutionError(
                f"Unsupported PostgreSQL 'options' entry {word!r}: only -c name=value",
                error_type="DatabaseConfigError",
                retryable=False,
            )
        name, sep, value = assignment.partition("=")
        if not sep or not name:
            raise NodeExecutionError(
                f"Invalid PostgreSQL 'options' entry {assignment!r}: expected name=value",
                error_type="DatabaseConfigError",
                retryable=False,
            )
        settings[name.replace("-", "_")] = value
    return settings
