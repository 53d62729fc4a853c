"""``database``: SQL on a configured connection (activity).

SQLAlchemy and sqlglot (:mod:`flov7.nodes.sql`) are imported when a database node first
runs, not with this module: the node registry imports every node type, so a workflow
without a database node (and ``flov7 run``, ``flov7 validate``, a worker that never runs
one) would otherwise load the whole database stack (about half a second here). The
import happens in :meth:`DatabaseNode.execute`, which is activity code: never inside
Temporal's workflow sandbox, which would import it again for every run.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from flov7.errors import NodeExecutionError
from flov7.nodes.base import ActivityContext, NodeConfig, NodeKind, NodeType
from flov7.nodes.outputs import closed_object
from flov7.nodes.resources import require_resources
from flov7.spec import Execution

REGISTRY_KEY = "databases"
"""Key of the worker-wide :class:`DatabaseRegistry` in ``NodeResources.shared``."""


class DatabaseConfig(NodeConfig):
    """Config of a ``database`` node. Values are always bound parameters."""

    connection: str | None = Field(
        default=None,
        description=(
            "Name of a configured database or of a 'database' credential (default: "
            "FLOV7_DEFAULT_DATABASE, or the only configured database)."
        ),
    )
    operation: Literal["select", "insert", "update", "delete", "query"]
    table: str | None = Field(default=None, description="Table name, or schema.table.")
    where: dict[str, Any] = Field(
        default_factory=dict,
        description="column -> value equality filters (None: IS NULL, a list: IN).",
    )
    values: dict[str, Any] | list[dict[str, Any]] | None = Field(
        default=None, description="column -> value; a list of them inserts several rows."
    )
    columns: list[str] | None = Field(default=None, description="Columns to select.")
    limit: int | None = Field(default=None, ge=1, le=100_000)
    order_by: list[str] | str | None = Field(
        default=None, description="Column or columns to sort by; '-column' for descending."
    )
    query: str | None = Field(default=None, description="Raw SQL with named :params.")
    params: dict[str, Any] = Field(default_factory=dict, description="Values of :params.")

    @model_validator(mode="after")
    def _operation_needs(self) -> DatabaseConfig:
        if self.operation == "query":
            if not self.query:
                raise ValueError("operation 'query' needs 'query' (SQL with :params)")
        elif not self.table:
            raise ValueError(f"operation '{self.operation}' needs 'table'")
        if self.operation in ("insert", "update") and not self.values:
            raise ValueError(f"operation '{self.operation}' needs 'values'")
        if self.operation == "update" and isinstance(self.values, list):
            raise ValueError("operation 'update' needs 'values' as one object, not a list")
        if self.operation in ("update", "delete") and not self.where:
            raise ValueError(
                f"operation '{self.operation}' needs 'where' (refusing to touch every row)"
            )
        if self.operation != "select":
            # Silently ignoring them would be worse: a 'limit' on a delete that deletes
            # every matching row anyway.
            for name in ("columns", "limit", "order_by"):
                if getattr(self, name):
                    raise ValueError(f"'{name}' only applies to operation 'select'")
        return self


class DatabaseNode(NodeType):
    """Runs a select/insert/update/delete or a parameterised query."""

    name = "database"
    kind = NodeKind.ACTIVITY
    execution = Execution.LOCAL  # short I/O: a local activity when its attempt is short
    config_model = DatabaseConfig
    output_schema = closed_object(
        "Reads (select, row-returning query): rows, row_count, columns, truncated. "
        "Writes: affected_rows, and inserted_ids for an insert into a table with a key.",
        {
            "rows": {"type": "array", "items": {"type": "object"}},
            "row_count": {"type": "integer"},
            "columns": {"type": "array", "items": {"type": "string"}},
            "truncated": {"type": "boolean"},
            "affected_rows": {"type": ["integer", "null"]},
            "inserted_ids": {"type": "array", "description": "The new rows' primary keys."},
        },
    )
    literal_fields = ("query",)
    description = (
        "SQL on SQLite, PostgreSQL or MySQL/MariaDB. Table and column names are checked "
        "against the live schema; values are bound parameters. Output: rows, row_count, "
        "columns for reads; affected_rows (and inserted_ids) for writes."
    )
    example: ClassVar[dict[str, Any]] = {
        "connection": "orders",
        "operation": "select",
        "table": "orders",
        "where": {"customer_id": "{{ input.customer }}"},
        "limit": 10,
    }

    async def execute(self, config: NodeConfig, context: ActivityContext) -> Any:
        """Run the operation in one transaction; see :mod:`flov7.nodes.sql.operations`."""
        assert isinstance(config, DatabaseConfig)
        # Activity code (not sandboxed): the database stack loads at the first database
        # node, see the module docstring.
        from flov7.nodes.sql import DatabaseRegistry, run_operation, translate_error
        from flov7.nodes.sql.errors import hide_parameters, parameter_texts

        resources = require_resources(context, self.name)
        with resources.redacting_errors():
            registry = resources.shared(REGISTRY_KEY, DatabaseRegistry)
            database = await registry.get(config.connection)
            try:
                output = await run_operation(database, config)
            except NodeExecutionError:
                raise
            except Exception as exc:
                # The database quotes bound values back in its messages: mask them.
                values = parameter_texts(config.params, config.values, config.where)
                error = translate_error(
                    exc,
                    connection=database.name,
                    redact=lambda text: hide_parameters(resources.redact(text), values),
                )
                if error is None:
                    raise
                # Not chained: Temporal records an error's causes in the run's history,
                # and a driver exception's text includes the SQL and its parameters.
                raise error from None
            # Outputs are stored in the run's history too: no configured secret in them.
            return resources.redact_value(output)


database_node = DatabaseNode()
