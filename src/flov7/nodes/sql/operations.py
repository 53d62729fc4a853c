"""The five ``database`` operations, run inside one transaction each.

Every operation returns a JSON-safe dict (see :mod:`flov7.nodes.sql.values`):

- ``select`` and row-returning ``query``: ``rows``, ``row_count``, ``columns``,
  ``truncated`` (more than :data:`MAX_ROWS` rows matched; only the first are returned);
- ``insert``: ``affected_rows`` and, when the table has a primary key, ``inserted_ids``;
- ``update`` / ``delete`` / other ``query``: ``affected_rows``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Insert, Table, text
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncConnection

from flov7.errors import NodeExecutionError
from flov7.nodes.sql.readonly import UnsafeQueryError, check_read_only, first_keyword
from flov7.nodes.sql.registry import Database, begin
from flov7.nodes.sql.statements import build_delete, build_insert, build_select, build_update
from flov7.nodes.sql.values import to_json_safe

if TYPE_CHECKING:
    from flov7.nodes.database import DatabaseConfig

__all__ = ["MAX_ROWS", "run_operation"]

MAX_ROWS = 10_000
"""Most rows one node outputs. Workflow outputs travel through Temporal's history (a
few MB per event at most), so bigger results must be paged with ``limit``/``where``."""

# Statements that return rows: read through a server-side cursor so that a huge result
# is never loaded whole only to be cut at MAX_ROWS.
_STREAMED_KEYWORDS = frozenset(
    {"SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN", "DESCRIBE", "DESC", "PRAGMA"}
)


async def run_operation(database: Database, config: DatabaseConfig) -> dict[str, Any]:
    """Run ``config``'s operation on ``database`` and return the node output."""
    if config.operation == "query":
        assert config.query is not None  # Checked by DatabaseConfig.
        return await _run_query(database, config.query, config.params)
    if database.read_only and config.operation != "select":
        raise NodeExecutionError(
            f"Connection {database.name!r} is read-only: {config.operation} is not allowed",
            error_type="ReadOnlyConnection",
            retryable=False,
        )
    assert config.table is not None  # Checked by DatabaseConfig.
    async with begin(database) as conn:
        table = await database.catalog.table(conn, config.table)
        try:
            return await _run_on_table(conn, table, config)
        except DBAPIError:
            # The table may have changed under the cached metadata.
            database.catalog.forget(table)
            raise


async def _run_on_table(
    conn: AsyncConnection, table: Table, config: DatabaseConfig
) -> dict[str, Any]:
    if config.operation == "select":
        return await _select(conn, table, config)
    if config.operation == "insert":
        assert config.values is not None
        rows = config.values if isinstance(config.values, list) else [config.values]
        return await _insert(conn, table, rows)
    if config.operation == "update":
        assert isinstance(config.values, dict)  # Checked by DatabaseConfig.
        result = await conn.execute(build_update(table, config.values, config.where))
        return {"affected_rows": result.rowcount}
    result = await conn.execute(build_delete(table, config.where))
    return {"affected_rows": result.rowcount}


async def _select(conn: AsyncConnection, table: Table, config: DatabaseConfig) -> dict[str, Any]:
    # Ask for one row more than we return to know whether the result was cut.
    wanted = config.limit if config.limit is not None and config.limit <= MAX_ROWS else None
    statement = build_select(
        table,
        columns=config.columns,
        where=config.where,
        order_by=_order_by(config.order_by),
        limit=wanted if wanted is not None else MAX_ROWS + 1,
    )
    result = await conn.execute(statement)
    columns = list(result.keys())
    return _rows_output(columns, result.fetchall())


async def _insert(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    if len(rows) > MAX_ROWS:
        raise NodeExecutionError(
            f"Too many rows to insert at once ({len(rows)}; at most {MAX_ROWS})",
            error_type="InvalidNodeConfig",
            retryable=False,
        )
    statement, runs = build_insert(table, rows)
    primary_key = list(table.primary_key.columns)
    if not primary_key:
        affected = 0
        for params in runs:
            result = await conn.execute(statement, params)
            affected += result.rowcount if result.rowcount >= 0 else len(params)
        return {"affected_rows": affected}
    ids: list[Any] = []
    for params in runs:
        ids.extend(await _insert_returning_keys(conn, statement, params, primary_key))
    return {"affected_rows": len(rows), "inserted_ids": ids}


async def _insert_returning_keys(
    conn: AsyncConnection,
    statement: Insert,
    params: list[dict[str, Any]],
    primary_key: list[Column[Any]],
) -> list[Any]:
    """Insert ``params`` (rows setting the same columns); their primary keys, in order."""
    dialect = conn.dialect
    if not dialect.insert_returning:
        # No RETURNING (MySQL): one statement per row, the key comes from lastrowid.
        keys = []
        for row in params:
            result = await conn.execute(statement, row)
            keys.append(_key(result.inserted_primary_key, primary_key))
        return keys
    if len(params) > 1 and dialect.insert_executemany_returning:
        try:
            batch = statement.returning(*primary_key, sort_by_parameter_order=True)
            result = await conn.execute(batch, params)
            return [_key(row, primary_key) for row in result.all()]
        except InvalidRequestError:
            # Raised before anything is sent: SQLAlchemy cannot guarantee that a batch's
            # keys come back in row order for this (reflected) table. One statement per
            # row below keeps inserted_ids aligned with 'values'.
            pass
    single = statement.returning(*primary_key)
    return [_key((await conn.execute(single, row)).one(), primary_key) for row in params]


async def _run_query(database: Database, sql: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if database.read_only:
        try:
            keyword = check_read_only(sql, database.backend)
        except UnsafeQueryError as exc:
            raise NodeExecutionError(
                f"Connection {database.name!r} is read-only and this query may write: {exc}",
                error_type="ReadOnlyConnection",
                retryable=False,
            ) from exc
    else:
        keyword = first_keyword(sql)
    statement = text(sql)
    async with begin(database) as conn:
        if keyword in _STREAMED_KEYWORDS:
            streamed = await conn.stream(statement, dict(params))
            try:
                columns = list(streamed.keys())
                rows = await streamed.fetchmany(MAX_ROWS + 1)
            finally:
                await streamed.close()
            return _rows_output(columns, rows)
        result = await conn.execute(statement, dict(params))
        if result.returns_rows:
            return _rows_output(list(result.keys()), result.fetchmany(MAX_ROWS + 1))
        # DBAPI rowcount is -1 when not applicable (DDL): reported as null, not -1.
        output: dict[str, Any] = {
            "affected_rows": result.rowcount if result.rowcount >= 0 else None
        }
        # lastrowid: MySQL/MariaDB and SQLite only (PostgreSQL has RETURNING instead).
        if keyword == "INSERT" and database.backend != "postgresql" and result.lastrowid:
            output["last_insert_id"] = result.lastrowid
        return output


def _rows_output(names: list[str], rows: Sequence[Row[Any]]) -> dict[str, Any]:
    columns = _unique(names)
    truncated = len(rows) > MAX_ROWS
    kept = rows[:MAX_ROWS]
    return {
        "rows": [
            {column: to_json_safe(value) for column, value in zip(columns, row, strict=True)}
            for row in kept
        ],
        "row_count": len(kept),
        "columns": columns,
        "truncated": truncated,
    }


def _unique(names: list[str]) -> list[str]:
    """Column names made unique (``SELECT a.id, b.id`` -> ``id``, ``id_2``) for row dicts."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


def _order_by(order_by: str | list[str] | None) -> list[str]:
    if order_by is None:
        return []
    return [order_by] if isinstance(order_by, str) else list(order_by)


def _key(row: Any, primary_key: list[Column[Any]]) -> Any:
    """A primary key as output: the value for a one-column key, else an object."""
    values = tuple(row) if row is not None else ()
    if len(values) != len(primary_key):
        return None
    if len(primary_key) == 1:
        return to_json_safe(values[0])
    return {
        column.name: to_json_safe(value) for column, value in zip(primary_key, values, strict=True)
    }
