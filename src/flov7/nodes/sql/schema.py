"""Table metadata reflected from the live database, cached per connection.

Every table and column name in a node's config is looked up here before it goes
anywhere near SQL: the name the statement uses is the reflected one, so a config can
only ever name objects that exist. The user's text never reaches the database, not
even during the lookup (it is compared against lists the database returned).

Lookups are exact first, then case-insensitive when that is unambiguous (PostgreSQL
folds unquoted names to lower case, so ``Users`` finds ``users``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, Float, MetaData, Table, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from flov7.errors import NodeExecutionError

__all__ = ["TableCatalog", "resolve_column"]

CACHE_SECONDS = 300.0
"""How long reflected metadata is trusted. Unknown names trigger a refresh anyway, and
a statement that fails on the database drops its table from the cache."""

_SHOWN_NAMES = 10

_T = TypeVar("_T")


@dataclass
class _Entry(Generic[_T]):
    value: _T
    loaded_at: float

    def fresh(self, max_age: float) -> bool:
        return time.monotonic() - self.loaded_at < max_age


class TableCatalog:
    """Reflected tables of one database connection."""

    def __init__(self, *, max_age: float = CACHE_SECONDS) -> None:
        self._max_age = max_age
        self._schemas: _Entry[list[str]] | None = None
        self._names: dict[str | None, _Entry[list[str]]] = {}
        self._tables: dict[tuple[str | None, str], _Entry[Table]] = {}

    async def table(self, conn: AsyncConnection, name: str) -> Table:
        """The reflected table called ``name`` (``table`` or ``schema.table``).

        Raises a non-retryable :class:`NodeExecutionError` naming the unknown table or
        schema and listing a few known ones.
        """
        parts = name.split(".")
        if len(parts) > 2 or not all(part.strip() for part in parts):
            raise NodeExecutionError(
                f"Invalid table name {name!r}: use 'table' or 'schema.table'",
                error_type="UnknownTable",
                retryable=False,
            )
        schema = await self._schema(conn, parts[0].strip()) if len(parts) == 2 else None
        wanted = parts[-1].strip()
        table_name = _match(wanted, await self._table_names(conn, schema, refresh=False))
        if table_name is None:
            # A table created since the last look: refresh once before giving up.
            known = await self._table_names(conn, schema, refresh=True)
            table_name = _match(wanted, known)
            if table_name is None:
                where = f" in schema {schema!r}" if schema else ""
                raise NodeExecutionError(
                    f"Unknown table {wanted!r}{where}; known tables: {_listing(known)}",
                    error_type="UnknownTable",
                    retryable=False,
                    details={"table": name, "known_tables": known[:_SHOWN_NAMES]},
                )
        key = (schema, table_name)
        entry = self._tables.get(key)
        if entry is None or not entry.fresh(self._max_age):
            reflected = await conn.run_sync(_reflect, table_name, schema)
            entry = self._tables[key] = _Entry(reflected, time.monotonic())
        return entry.value

    def forget(self, table: Table) -> None:
        """Drop ``table`` from the cache (a statement on it failed: it may have changed)."""
        self._tables.pop((table.schema, table.name), None)
        self._names.pop(table.schema, None)

    async def _schema(self, conn: AsyncConnection, wanted: str) -> str:
        entry = self._schemas
        if entry is None or not entry.fresh(self._max_age):
            names = await conn.run_sync(lambda sync: inspect(sync).get_schema_names())
            entry = self._schemas = _Entry(sorted(names), time.monotonic())
        schema = _match(wanted, entry.value)
        if schema is None:
            raise NodeExecutionError(
                f"Unknown schema {wanted!r}; known schemas: {_listing(entry.value)}",
                error_type="UnknownTable",
                retryable=False,
                details={"schema": wanted, "known_schemas": entry.value[:_SHOWN_NAMES]},
            )
        return schema

    async def _table_names(
        self, conn: AsyncConnection, schema: str | None, *, refresh: bool
    ) -> list[str]:
        entry = self._names.get(schema)
        if refresh or entry is None or not entry.fresh(self._max_age):
            names = await conn.run_sync(_table_and_view_names, schema)
            entry = self._names[schema] = _Entry(names, time.monotonic())
        return entry.value


def resolve_column(table: Table, name: str) -> Column[Any]:
    """The column of ``table`` called ``name``; a non-retryable error when unknown."""
    known = [column.name for column in table.columns]
    match = _match(name, known) if isinstance(name, str) else None
    if match is None:
        raise NodeExecutionError(
            f"Unknown column {name!r} in table {table.name!r}; known columns: {_listing(known)}",
            error_type="UnknownColumn",
            retryable=False,
            details={"table": table.name, "column": name, "known_columns": known},
        )
    return table.columns[match]


def _reflect(sync_conn: Connection, name: str, schema: str | None) -> Table:
    table = Table(name, MetaData(), schema=schema, autoload_with=sync_conn)
    for column in table.columns:
        # MySQL's reflected DOUBLE/FLOAT default to asdecimal=True ("0.5000000000");
        # floating-point columns should come out as JSON numbers, like elsewhere.
        if isinstance(column.type, Float):
            column.type.asdecimal = False
    return table


def _table_and_view_names(sync_conn: Connection, schema: str | None) -> list[str]:
    inspector = inspect(sync_conn)
    return sorted({*inspector.get_table_names(schema), *inspector.get_view_names(schema)})


def _match(wanted: str, known: Iterable[str]) -> str | None:
    known = list(known)
    if wanted in known:
        return wanted
    folded = [name for name in known if name.lower() == wanted.lower()]
    return folded[0] if len(folded) == 1 else None


def _listing(names: list[str]) -> str:
    if not names:
        return "(none)"
    shown = ", ".join(names[:_SHOWN_NAMES])
    more = len(names) - _SHOWN_NAMES
    return f"{shown} (and {more} more)" if more > 0 else shown
