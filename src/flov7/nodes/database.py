"""``database``: SQL on a configured connection (activity)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from flov7.nodes.base import NodeConfig, NodeKind, NodeType, register


class DatabaseConfig(NodeConfig):
    """Config of a ``database`` node. Values are always bound parameters."""

    connection: str | None = Field(
        default=None, description="Name of a configured database (default one when unset)."
    )
    operation: Literal["select", "insert", "update", "delete", "query"]
    table: str | None = None
    where: dict[str, Any] = Field(default_factory=dict)
    values: dict[str, Any] | list[dict[str, Any]] | None = None
    columns: list[str] | None = None
    limit: int | None = Field(default=None, ge=1, le=100_000)
    order_by: list[str] | str | None = None
    query: str | None = Field(default=None, description="Raw SQL with named :params.")
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _operation_needs(self) -> DatabaseConfig:
        if self.operation == "query":
            if not self.query:
                raise ValueError("operation 'query' needs 'query' (SQL with :params)")
        elif not self.table:
            raise ValueError(f"operation '{self.operation}' needs 'table'")
        if self.operation in ("insert", "update") and not self.values:
            raise ValueError(f"operation '{self.operation}' needs 'values'")
        if self.operation in ("update", "delete") and not self.where:
            raise ValueError(
                f"operation '{self.operation}' needs 'where' (refusing to touch every row)"
            )
        return self


class DatabaseNode(NodeType):
    """Runs a select/insert/update/delete or a parameterised query."""

    name = "database"
    kind = NodeKind.ACTIVITY
    config_model = DatabaseConfig
    description = (
        "SQL on SQLite, PostgreSQL or MySQL/MariaDB. Table and column names are checked "
        "against the live schema; values are bound parameters. Output: rows, row_count, "
        "columns for reads; affected_rows for writes."
    )
    example: ClassVar[dict[str, Any]] = {
        "connection": "orders",
        "operation": "select",
        "table": "orders",
        "where": {"customer_id": "{{ input.customer }}"},
        "limit": 10,
    }


database_node = register(DatabaseNode())
