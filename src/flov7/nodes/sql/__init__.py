"""SQL for the ``database`` node: engines, reflected schemas, statements, JSON values.

- :mod:`~flov7.nodes.sql.registry`: :class:`DatabaseRegistry`, one async engine per
  connection name (a per-worker shared resource), read-only enforcement;
- :mod:`~flov7.nodes.sql.urls`: plain database URLs mapped to the async drivers;
- :mod:`~flov7.nodes.sql.schema`: table/column names checked against the live schema;
- :mod:`~flov7.nodes.sql.statements`: SQLAlchemy Core statements, values always bound;
- :mod:`~flov7.nodes.sql.readonly`: the conservative "is this raw SQL read-only" check;
- :mod:`~flov7.nodes.sql.operations`: select/insert/update/delete/query, one transaction;
- :mod:`~flov7.nodes.sql.values`: database values <-> JSON values;
- :mod:`~flov7.nodes.sql.errors`: driver errors -> retryable or not node errors.
"""

from flov7.nodes.sql.errors import translate_error
from flov7.nodes.sql.operations import MAX_ROWS, run_operation
from flov7.nodes.sql.registry import Database, DatabaseRegistry
from flov7.nodes.sql.values import to_json_safe

__all__ = [
    "MAX_ROWS",
    "Database",
    "DatabaseRegistry",
    "run_operation",
    "to_json_safe",
    "translate_error",
]
