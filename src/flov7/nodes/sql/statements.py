"""SQLAlchemy Core statements built from a ``database`` node's config.

Only reflected :class:`~sqlalchemy.Column` objects name things (see
:mod:`flov7.nodes.sql.schema`) and every value is a bound parameter, converted to its
column's type first (see :func:`flov7.nodes.sql.values.coerce_param`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Delete, Insert, Select, Table, Update, delete, insert
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update

from flov7.errors import NodeExecutionError
from flov7.nodes.sql.schema import resolve_column
from flov7.nodes.sql.values import ValueCoercionError, coerce_param

__all__ = [
    "build_delete",
    "build_insert",
    "build_select",
    "build_update",
    "conditions",
    "row_params",
]


def conditions(table: Table, where: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """``where`` as SQL conditions, ANDed by the caller.

    ``{"col": value}`` is ``col = :value``; None is ``col IS NULL``; a list is
    ``col IN (...)`` (an empty list matches nothing).
    """
    clauses: list[ColumnElement[bool]] = []
    for name, value in where.items():
        column = resolve_column(table, name)
        if value is None:
            clauses.append(column.is_(None))
        elif isinstance(value, list):
            clauses.append(column.in_([_coerce(column, item) for item in value]))
        else:
            clauses.append(column == _coerce(column, value))
    return clauses


def build_select(
    table: Table,
    *,
    columns: Sequence[str] | None,
    where: Mapping[str, Any],
    order_by: Sequence[str],
    limit: int,
) -> Select[Any]:
    """``SELECT columns FROM table WHERE ... ORDER BY ... LIMIT limit``.

    ``order_by`` entries are column names, ``-name`` for descending.
    """
    selected = [resolve_column(table, name) for name in columns] if columns else [table]
    statement = sa_select(*selected).where(*conditions(table, where))
    for entry in order_by:
        descending = entry.startswith("-")
        column = resolve_column(table, entry[1:] if descending else entry)
        statement = statement.order_by(column.desc() if descending else column.asc())
    return statement.limit(limit)


def row_params(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """One row of ``values`` keyed by reflected column names, values coerced."""
    params: dict[str, Any] = {}
    for name, value in values.items():
        column = resolve_column(table, name)
        params[column.key] = _coerce(column, value)
    return params


def build_insert(
    table: Table, rows: Sequence[Mapping[str, Any]]
) -> tuple[Insert, list[list[dict[str, Any]]]]:
    """``INSERT INTO table`` and its parameter sets, in runs of rows setting the same columns.

    One executemany needs one statement shape, so rows are grouped into consecutive runs
    of identical column sets (JSON rows often leave optional fields out; a missing column
    gets its default, which is not the same as NULL). Keeping runs consecutive keeps the
    rows, and their keys, in the caller's order.
    """
    runs: list[list[dict[str, Any]]] = []
    for row in rows:
        params = row_params(table, row)
        if runs and set(runs[-1][0]) == set(params):
            runs[-1].append(params)
        else:
            runs.append([params])
    return insert(table), runs


def build_update(table: Table, values: Mapping[str, Any], where: Mapping[str, Any]) -> Update:
    """``UPDATE table SET ... WHERE ...`` (``where`` is required by the config)."""
    return sa_update(table).where(*conditions(table, where)).values(row_params(table, values))


def build_delete(table: Table, where: Mapping[str, Any]) -> Delete:
    """``DELETE FROM table WHERE ...`` (``where`` is required by the config)."""
    return delete(table).where(*conditions(table, where))


def _coerce(column: Any, value: Any) -> Any:
    try:
        return coerce_param(column, value)
    except ValueCoercionError as exc:
        raise NodeExecutionError(
            f"Invalid value: {exc}", error_type="InvalidValue", retryable=False
        ) from exc
