"""The ``database`` node on real SQLite, PostgreSQL and MariaDB databases.

Tests using the ``db`` / ``db_resources`` fixtures run once per backend. Nothing is mocked:
statements go through real drivers to real servers on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Numeric, Table, text
from sqlalchemy import Date as SaDate
from sqlalchemy import DateTime as SaDateTime
from sqlalchemy import Uuid as SaUuid
from sqlalchemy.pool import QueuePool
from temporalio.client import Client

from flov7.config import TemporalSettings
from flov7.errors import NodeExecutionError
from flov7.nodes.base import get_node_type
from flov7.nodes.resources import NodeResources
from flov7.nodes.settings import NodeSettings
from flov7.nodes.sql import MAX_ROWS, DatabaseRegistry
from flov7.nodes.sql.readonly import UnsafeQueryError, check_read_only, first_keyword
from flov7.nodes.sql.registry import begin
from flov7.nodes.sql.urls import to_async_url
from flov7.nodes.sql.values import ValueCoercionError, coerce_param, to_json_safe
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import create_worker
from nodes.db_fixtures import (
    TestDatabase,
    closed_port,
    database_settings,
    db,
    db_resources,
    mysql_db,
    no_env,
    pg_db,
    run_database_node,
    sqlite_db,
)

from support.results import result_document

# Imported fixtures (pytest finds them by name in this module).
__all__ = ["db", "db_resources", "mysql_db", "no_env", "pg_db", "sqlite_db"]

ALICE = {
    "name": "Alice",
    "email": "alice@example.com",
    "age": 31,
    "balance": "1234.50",
    "born": "1993-04-05",
    "created_at": "2024-05-01T12:30:45.123456",
    "active": True,
    "avatar": "AAEC/w==",  # base64 of 00 01 02 ff
    "token": "12345678-1234-5678-1234-567812345678",
    "score": 0.5,
}
BOB = {"name": "Bob", "email": "bob@example.com", "age": 25, "balance": "10.00"}
CAROL = {"name": "Carol", "email": None, "age": None, "balance": "0.10"}


async def run(db_resources: NodeResources, **config: Any) -> Any:
    return await run_database_node(db_resources, config)


async def fails(db_resources: NodeResources, **config: Any) -> NodeExecutionError:
    with pytest.raises(NodeExecutionError) as caught:
        await run_database_node(db_resources, config)
    return caught.value


async def seeded(db: TestDatabase, db_resources: NodeResources) -> list[int]:
    await db.create_tables()
    output = await run(db_resources, operation="insert", table="users", values=[ALICE, BOB, CAROL])
    ids: list[int] = output["inserted_ids"]
    return ids


# --- select ----------------------------------------------------------------------------


async def test_select_returns_json_safe_rows(db: TestDatabase, db_resources: NodeResources) -> None:
    await seeded(db, db_resources)

    output = await run(db_resources, operation="select", table="users", where={"name": "Alice"})

    assert output["row_count"] == 1
    assert output["truncated"] is False
    assert output["columns"][:3] == ["id", "name", "email"]
    row = output["rows"][0]
    assert row["name"] == "Alice"
    assert row["balance"] == "1234.50"  # Decimal -> exact string
    assert row["born"] == "1993-04-05"
    assert row["created_at"] == "2024-05-01T12:30:45.123456"
    assert row["avatar"] == "AAEC/w=="  # bytes -> base64
    assert row["token"] == "12345678-1234-5678-1234-567812345678"
    assert row["active"] in (True, 1)  # MySQL BOOLEAN is TINYINT(1)
    assert row["score"] == 0.5


async def test_select_where_null_and_in(db: TestDatabase, db_resources: NodeResources) -> None:
    await seeded(db, db_resources)

    nulls = await run(db_resources, operation="select", table="users", where={"email": None})
    listed = await run(
        db_resources,
        operation="select",
        table="users",
        where={"name": ["Alice", "Carol", "Nobody"]},
        columns=["name"],
        order_by="name",
    )
    nothing = await run(db_resources, operation="select", table="users", where={"name": []})

    assert [row["name"] for row in nulls["rows"]] == ["Carol"]
    assert listed["rows"] == [{"name": "Alice"}, {"name": "Carol"}]
    assert nothing["rows"] == []


async def test_select_columns_order_by_and_limit(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await seeded(db, db_resources)

    descending = await run(
        db_resources, operation="select", table="users", columns=["name", "age"], order_by="-name"
    )
    by_two = await run(
        db_resources,
        operation="select",
        table="users",
        columns=["name"],
        order_by=["-balance", "name"],
        limit=2,
    )

    assert descending["columns"] == ["name", "age"]
    assert [row["name"] for row in descending["rows"]] == ["Carol", "Bob", "Alice"]
    assert by_two["rows"] == [{"name": "Alice"}, {"name": "Bob"}]
    assert by_two["row_count"] == 2
    assert by_two["truncated"] is False


async def test_templated_string_values_are_converted_to_column_types(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    # Values often come from templates or HTTP bodies as strings; asyncpg would refuse
    # "31" for an INTEGER parameter without the conversion.
    await seeded(db, db_resources)

    output = await run(
        db_resources, operation="select", table="users", where={"age": "31", "born": "1993-04-05"}
    )

    assert [row["name"] for row in output["rows"]] == ["Alice"]


async def test_names_are_matched_case_insensitively_and_schema_qualified(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await seeded(db, db_resources)

    output = await run(
        db_resources,
        operation="select",
        table=db.qualified("USERS"),
        columns=["NAME"],
        where={"Name": "Bob"},
    )

    assert output["rows"] == [{"name": "Bob"}]


async def test_a_table_created_after_first_use_is_found(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await seeded(db, db_resources)
    await run(db_resources, operation="select", table="users")  # Caches the table list.

    await db.run("CREATE TABLE late_table (id INTEGER PRIMARY KEY, label VARCHAR(20))")
    await run(db_resources, operation="insert", table="late_table", values={"id": 1, "label": "x"})
    output = await run(db_resources, operation="select", table="late_table")

    assert output["rows"] == [{"id": 1, "label": "x"}]


async def test_results_are_capped_at_max_rows(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await db.create_tables()
    batch = [{"kind": "tick", "payload": str(index)} for index in range(MAX_ROWS)]
    await run(db_resources, operation="insert", table="events", values=batch)
    await run(db_resources, operation="insert", table="events", values={"kind": "tick"})

    everything = await run(db_resources, operation="select", table="events")
    limited = await run(db_resources, operation="select", table="events", limit=3)
    raw = await run(db_resources, operation="query", query="SELECT kind FROM events")

    assert everything["row_count"] == MAX_ROWS
    assert len(everything["rows"]) == MAX_ROWS
    assert everything["truncated"] is True
    assert limited["row_count"] == 3
    assert limited["truncated"] is False
    assert raw["row_count"] == MAX_ROWS
    assert raw["truncated"] is True


# --- insert / update / delete -----------------------------------------------------------


async def test_insert_returns_ids_in_row_order(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await db.create_tables()

    one = await run(db_resources, operation="insert", table="users", values={"name": "Solo"})
    many = await run(
        db_resources,
        operation="insert",
        table="users",
        values=[{"name": "First"}, {"name": "Second"}, {"name": "Third"}],
    )

    assert one == {"affected_rows": 1, "inserted_ids": [1]}
    assert many == {"affected_rows": 3, "inserted_ids": [2, 3, 4]}
    rows = await db.run("SELECT id, name FROM users ORDER BY id")
    assert [(row["id"], row["name"]) for row in rows] == [
        (1, "Solo"),
        (2, "First"),
        (3, "Second"),
        (4, "Third"),
    ]


async def test_insert_into_a_table_without_primary_key(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await db.create_tables()

    output = await run(
        db_resources,
        operation="insert",
        table="events",
        values=[{"kind": "a", "payload": "1"}, {"kind": "b", "payload": "2"}],
    )

    assert output == {"affected_rows": 2}


async def test_insert_rows_setting_different_columns_keep_their_order(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await db.create_tables()
    rows = [{"name": "a"}, {"name": "b", "age": 2}, {"name": "c", "age": 3}, {"name": "d"}]

    output = await run(db_resources, operation="insert", table="users", values=rows)

    assert output == {"affected_rows": 4, "inserted_ids": [1, 2, 3, 4]}
    stored = await db.run("SELECT id, name, age FROM users ORDER BY id")
    assert [(row["id"], row["name"], row["age"]) for row in stored] == [
        (1, "a", None),
        (2, "b", 2),
        (3, "c", 3),
        (4, "d", None),
    ]


async def test_update_and_delete_report_affected_rows(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    ids = await seeded(db, db_resources)

    updated = await run(
        db_resources,
        operation="update",
        table="users",
        values={"age": 40, "balance": 99.95},
        where={"id": [ids[0], ids[1]]},
    )
    deleted = await run(db_resources, operation="delete", table="users", where={"email": None})
    remaining = await run(db_resources, operation="select", table="users", order_by="id")

    assert updated == {"affected_rows": 2}
    assert deleted == {"affected_rows": 1}
    assert [(row["name"], row["age"], row["balance"]) for row in remaining["rows"]] == [
        ("Alice", 40, "99.95"),
        ("Bob", 40, "99.95"),
    ]


async def test_update_without_match_affects_nothing(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await seeded(db, db_resources)

    output = await run(
        db_resources, operation="update", table="users", values={"age": 1}, where={"id": 999}
    )

    assert output == {"affected_rows": 0}


# --- raw queries ------------------------------------------------------------------------


async def test_raw_query_binds_named_params(db: TestDatabase, db_resources: NodeResources) -> None:
    await seeded(db, db_resources)

    output = await run(
        db_resources,
        operation="query",
        query="SELECT name, balance FROM users WHERE age >= :min_age ORDER BY name",
        params={"min_age": 30},
    )

    assert output["columns"] == ["name", "balance"]
    # Raw results carry no column types: SQLite hands back its REAL for NUMERIC.
    expected_balance = 1234.5 if db.backend == "sqlite" else "1234.50"
    assert output["rows"] == [{"name": "Alice", "balance": expected_balance}]
    assert output["row_count"] == 1


async def test_raw_write_query_reports_affected_rows(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await seeded(db, db_resources)

    inserted = await run(
        db_resources,
        operation="query",
        query="INSERT INTO events (kind, payload) VALUES (:kind, :payload)",
        params={"kind": "raw", "payload": "p"},
    )
    updated = await run(
        db_resources,
        operation="query",
        query="UPDATE users SET age = :age WHERE name <> :name",
        params={"age": 50, "name": "Alice"},
    )

    assert inserted["affected_rows"] == 1
    assert updated == {"affected_rows": 2}


async def test_raw_query_duplicate_column_names_stay_distinct(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await seeded(db, db_resources)

    output = await run(
        db_resources,
        operation="query",
        query="SELECT a.name, b.name FROM users a JOIN users b ON a.id = b.id WHERE a.age = 25",
    )

    assert output["columns"] == ["name", "name_2"]
    assert output["rows"] == [{"name": "Bob", "name_2": "Bob"}]


async def test_raw_query_aggregates_are_json_safe(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await seeded(db, db_resources)

    output = await run(
        db_resources,
        operation="query",
        query="SELECT COUNT(*) AS n, SUM(age) AS total_age, SUM(balance) AS money FROM users",
    )

    row = output["rows"][0]
    assert row["n"] == 3
    assert row["total_age"] == 56  # MySQL's SUM of integers is an integral Decimal
    assert row["money"] in ("1244.60", 1244.6)  # SQLite sums NUMERIC as REAL


# --- injection attempts -------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    ["users; DROP TABLE events", "users --", 'users" ; DROP TABLE "events', "`users`", "a.b.c"],
)
async def test_injected_table_names_are_unknown_tables(
    db: TestDatabase, db_resources: NodeResources, table: str
) -> None:
    await seeded(db, db_resources)

    error = await fails(db_resources, operation="select", table=table)

    assert error.error_type == "UnknownTable"
    assert error.retryable is False
    assert await db.run("SELECT COUNT(*) AS n FROM events") == [{"n": 0}]


@pytest.mark.parametrize(
    "config",
    [
        {"operation": "select", "columns": ['name" FROM users; --']},
        {"operation": "select", "where": {"name = name OR 1": 1}},
        {"operation": "select", "order_by": "-name; DROP TABLE users"},
        {"operation": "insert", "values": {"name`) VALUES ('x'); --": "y"}},
        {"operation": "update", "values": {"age": 1}, "where": {"1=1 OR id": 1}},
        {"operation": "delete", "where": {"id' OR '1'='1": 1}},
    ],
    ids=["columns", "where", "order_by", "insert", "update", "delete"],
)
async def test_injected_column_names_are_unknown_columns(
    db: TestDatabase, db_resources: NodeResources, config: dict[str, Any]
) -> None:
    await seeded(db, db_resources)

    error = await fails(db_resources, table="users", **config)

    assert error.error_type == "UnknownColumn"
    assert error.retryable is False
    assert "known columns: id, name, email" in error.message
    assert (await db.run("SELECT COUNT(*) AS n FROM users")) == [{"n": 3}]


async def test_sql_in_values_is_stored_as_data(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await seeded(db, db_resources)
    nasty = "x'); DROP TABLE users; -- \" ` \\"

    await run(db_resources, operation="insert", table="users", values={"name": nasty})
    found = await run(db_resources, operation="select", table="users", where={"name": nasty})
    raw = await run(
        db_resources,
        operation="query",
        query="SELECT COUNT(*) AS n FROM users WHERE name = :name OR name = :other",
        params={"name": nasty, "other": "' OR '1'='1"},
    )

    assert [row["name"] for row in found["rows"]] == [nasty]
    assert raw["rows"] == [{"n": 1}]
    assert (await db.run("SELECT COUNT(*) AS n FROM users")) == [{"n": 4}]


# --- read-only connections -----------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"operation": "insert", "table": "users", "values": {"name": "x"}},
        {"operation": "update", "table": "users", "values": {"age": 1}, "where": {"id": 1}},
        {"operation": "delete", "table": "users", "where": {"id": 1}},
        {"operation": "query", "query": "DELETE FROM users"},
        {"operation": "query", "query": "SELECT 1; DELETE FROM users"},
        {"operation": "query", "query": "SELECT * FROM users WHERE id = 1 FOR UPDATE"},
        {"operation": "query", "query": "WITH gone AS (DELETE FROM users RETURNING id) SELECT 1"},
        {"operation": "query", "query": "SELECT * INTO copied FROM users"},
        {"operation": "query", "query": "DROP TABLE users"},
    ],
    ids=lambda config: config.get("query") or config["operation"],
)
async def test_read_only_connection_refuses_writes(
    db: TestDatabase, db_resources: NodeResources, config: dict[str, Any]
) -> None:
    await seeded(db, db_resources)

    error = await fails(db_resources, connection="readonly", **config)

    assert error.error_type == "ReadOnlyConnection"
    assert error.retryable is False
    assert (await db.run("SELECT COUNT(*) AS n FROM users")) == [{"n": 3}]


async def test_read_only_connection_reads(db: TestDatabase, db_resources: NodeResources) -> None:
    await seeded(db, db_resources)

    selected = await run(db_resources, connection="readonly", operation="select", table="users")
    queried = await run(
        db_resources,
        connection="readonly",
        operation="query",
        query="WITH adults AS (SELECT name FROM users WHERE age > :age) SELECT * FROM adults",
        params={"age": 18},
    )

    assert selected["row_count"] == 3
    assert sorted(row["name"] for row in queried["rows"]) == ["Alice", "Bob"]


_OTHER_READS = {
    "postgresql": ["EXPLAIN SELECT * FROM users", "SHOW search_path", "TABLE users"],
    "mysql": ["EXPLAIN SELECT * FROM users", "SHOW TABLES", "DESCRIBE users"],
    "sqlite": ["EXPLAIN QUERY PLAN SELECT * FROM users", "PRAGMA table_info(users)"],
}


async def test_read_only_connection_runs_other_reading_statements(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await db.create_tables()

    for query in [*_OTHER_READS[db.backend], "VALUES (1, 'a')"]:
        output = await run(db_resources, connection="readonly", operation="query", query=query)

        assert output["columns"], query
        assert output["truncated"] is False


_READ_ONLY_FLAG = {
    "postgresql": ("SHOW transaction_read_only", "on"),
    "mysql": ("SELECT @@tx_read_only AS flag", 1),
    "sqlite": ("PRAGMA query_only", 1),
}


async def test_read_only_is_enforced_by_the_database_too(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await seeded(db, db_resources)
    query, expected = _READ_ONLY_FLAG[db.backend]

    read_only = await run(db_resources, connection="readonly", operation="query", query=query)
    writable = await run(db_resources, connection="main", operation="query", query=query)

    assert list(read_only["rows"][0].values()) == [expected]
    assert list(writable["rows"][0].values()) != [expected]


async def test_postgres_read_only_transaction_refuses_what_gets_past_the_checks(
    pg_db: TestDatabase, no_env: None
) -> None:
    # The parser refuses "nextval" however it is quoted; underneath, the database's
    # read-only transaction refuses it too (run here without the node's checks).
    await pg_db.create_tables()
    async with NodeResources.open(database_settings(pg_db.url)) as db_resources:
        error = await fails(
            db_resources,
            connection="readonly",
            operation="query",
            query="""SELECT "nextval"('users_id_seq')""",
        )
        assert error.error_type == "ReadOnlyConnection"
        assert "nextval()" in error.message
        registry = DatabaseRegistry(db_resources)
        database = await registry.get("readonly")
        try:
            with pytest.raises(Exception, match="read-only transaction"):
                async with begin(database) as conn:
                    await conn.execute(text("""SELECT "nextval"('users_id_seq')"""))
        finally:
            await registry.aclose()


async def test_read_only_database_credential(db: TestDatabase, no_env: None) -> None:
    await db.create_tables()
    settings = NodeSettings(
        _env_file=None,  # type: ignore[call-arg]
        credentials={"reports": {"type": "database", "url": db.url, "read_only": True}},
    )
    async with NodeResources.open(settings) as db_resources:
        selected = await run(db_resources, connection="reports", operation="select", table="users")
        error = await fails(
            db_resources, connection="REPORTS", operation="insert", table="users", values={"a": 1}
        )

    assert selected["rows"] == []
    assert error.error_type == "ReadOnlyConnection"


# --- errors ------------------------------------------------------------------------------------


async def test_unknown_table_lists_known_ones(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await db.create_tables()

    error = await fails(db_resources, operation="select", table="userz")

    assert error.error_type == "UnknownTable"
    assert "Unknown table 'userz'" in error.message
    assert "events" in error.message
    assert "users" in error.message
    assert error.details["known_tables"] == ["events", "users"]


async def test_unknown_schema_is_reported(db: TestDatabase, db_resources: NodeResources) -> None:
    await db.create_tables()

    error = await fails(db_resources, operation="select", table="no_such_schema.users")

    assert error.error_type == "UnknownTable"
    assert "Unknown schema 'no_such_schema'" in error.message


async def test_sql_errors_are_not_retryable(db: TestDatabase, db_resources: NodeResources) -> None:
    await seeded(db, db_resources)

    syntax = await fails(db_resources, operation="query", query="SELEC name FROM users")
    duplicate = await fails(
        db_resources,
        operation="insert",
        table="users",
        values={"name": "X", **{"email": BOB["email"]}},
    )
    unknown = await fails(db_resources, operation="query", query="SELECT nope FROM users")

    for error in (syntax, duplicate, unknown):
        assert error.error_type == "DatabaseError"
        assert error.retryable is False
        assert error.message.startswith("Database error on 'main': ")
    assert "syntax" in syntax.message.lower()
    assert "nope" in unknown.message
    # The database's text, without the bound value it quotes back (email is a parameter).
    assert "bob@example.com" not in duplicate.message
    assert "unique" in duplicate.message.lower() or "duplicate" in duplicate.message.lower()


async def test_a_failed_statement_rolls_back_the_transaction(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await seeded(db, db_resources)

    await fails(
        db_resources,
        operation="insert",
        table="users",
        values=[
            {"name": "New", "email": "new@example.com"},
            {"name": "Dup", "email": BOB["email"]},
        ],
    )

    assert (await db.run("SELECT COUNT(*) AS n FROM users")) == [{"n": 3}]


async def test_invalid_values_name_the_column(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await db.create_tables()

    error = await fails(
        db_resources, operation="insert", table="users", values={"name": "x", "age": "old"}
    )

    assert error.error_type == "InvalidValue"
    assert error.retryable is False
    assert "'age'" in error.message


async def test_missing_query_param_is_not_retryable(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await db.create_tables()

    error = await fails(db_resources, operation="query", query="SELECT * FROM users WHERE id = :id")

    assert error.retryable is False
    assert "id" in error.message


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
async def test_connection_refused_is_retryable_and_hides_the_password(
    backend: str, no_env: None
) -> None:
    url = f"{backend}://app:Sup3rSecretPw@127.0.0.1:{closed_port()}/test"
    async with NodeResources.open(database_settings(url)) as db_resources:
        error = await fails(db_resources, operation="select", table="users")

    assert error.retryable is True
    assert error.error_type == "DatabaseConnectionError"
    assert "Sup3rSecretPw" not in error.message
    assert "Sup3rSecretPw" not in str(error.details)


async def test_authentication_failure_is_not_retryable(
    mysql_db: TestDatabase, no_env: None
) -> None:
    url = mysql_db.url.replace("root@", "flov7_nobody:Sup3rSecretPw@")
    async with NodeResources.open(database_settings(url)) as db_resources:
        error = await fails(db_resources, operation="select", table="users")

    assert error.retryable is False
    assert "Access denied" in error.message
    assert "Sup3rSecretPw" not in error.message


async def test_database_messages_are_redacted(pg_db: TestDatabase, no_env: None) -> None:
    # Trust authentication ignores the password, so the connection works; the error
    # then quotes the password back, and must not show it.
    url = pg_db.url.replace("postgres@", "postgres:Sup3rSecretPw@")
    async with NodeResources.open(database_settings(url)) as db_resources:
        error = await fails(
            db_resources, operation="query", query="SELECT CAST('Sup3rSecretPw' AS INTEGER)"
        )

    assert error.error_type == "DatabaseError"
    assert "Sup3rSecretPw" not in error.message
    assert "***" in error.message


async def test_unopenable_sqlite_file_is_reported(no_env: None) -> None:
    settings = database_settings("sqlite:////nonexistent-dir/flov7/test.db")
    async with NodeResources.open(settings) as db_resources:
        error = await fails(db_resources, operation="select", table="users")

    assert error.retryable is False
    assert "unable to open database file" in error.message


# --- connections and configuration ---------------------------------------------------------


async def test_default_connection_rules(sqlite_db: TestDatabase, no_env: None) -> None:
    await sqlite_db.create_tables()
    only_one = NodeSettings(_env_file=None, databases={"solo": sqlite_db.url})  # type: ignore[call-arg]
    several = NodeSettings(
        _env_file=None,  # type: ignore[call-arg]
        databases={"one": sqlite_db.url, "two": sqlite_db.url},
    )
    nothing = NodeSettings(_env_file=None)  # type: ignore[call-arg]

    async with NodeResources.open(only_one) as db_resources:
        assert (await run(db_resources, operation="select", table="users"))["rows"] == []
        unknown = await fails(db_resources, connection="other", operation="select", table="users")
    async with NodeResources.open(several) as db_resources:
        ambiguous = await fails(db_resources, operation="select", table="users")
    async with NodeResources.open(nothing) as db_resources:
        missing = await fails(db_resources, operation="select", table="users")

    assert "Unknown database connection 'other'" in unknown.message
    assert "FLOV7_DATABASE_OTHER" in unknown.message
    assert "FLOV7_DEFAULT_DATABASE" in ambiguous.message
    assert "FLOV7_DATABASE_<NAME>" in missing.message
    for error in (unknown, ambiguous, missing):
        assert error.retryable is False
        assert error.error_type == "DatabaseConfigError"


async def test_engines_are_shared_and_disposed(sqlite_db: TestDatabase, no_env: None) -> None:
    await sqlite_db.create_tables()
    async with NodeResources.open(database_settings(sqlite_db.url)) as db_resources:
        await run(db_resources, operation="select", table="users")
        registry = db_resources.shared("databases", DatabaseRegistry)
        first = await registry.get("main")
        again = await registry.get("MAIN")
        pool = first.engine.pool
        assert isinstance(pool, QueuePool)

        assert first is again
        assert pool.checkedin() == 1  # The run's connection went back to the pool.
    assert pool.checkedin() == 0  # Disposed with the resources.


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"operation": "select"}, "needs 'table'"),
        ({"operation": "query"}, "needs 'query'"),
        ({"operation": "insert", "table": "t"}, "needs 'values'"),
        ({"operation": "delete", "table": "t"}, "needs 'where'"),
        ({"operation": "update", "table": "t", "values": [{"a": 1}], "where": {"a": 1}}, "one"),
        ({"operation": "delete", "table": "t", "where": {"a": 1}, "limit": 1}, "only applies"),
    ],
)
def test_config_validation(config: dict[str, Any], message: str) -> None:
    node = get_node_type("database")
    assert node is not None

    with pytest.raises(NodeExecutionError, match=message) as caught:
        node.parse_config(config)

    assert caught.value.error_type == "InvalidNodeConfig"


# --- pure helpers: read-only check, URLs, value conversion -----------------------------------


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("SELECT 1", "postgresql"),
        ("  select * from users where name = 'x; DELETE' ;", "postgresql"),
        ("WITH a AS (SELECT 1) SELECT * FROM a", "mysql"),
        ("(SELECT 1) UNION (SELECT 2)", "sqlite"),
        ("VALUES (1), (2)", "postgresql"),
        ("EXPLAIN SELECT * FROM users", "mysql"),
        ("SHOW TABLES", "mysql"),
        ("SELECT $$ DELETE $$", "postgresql"),
        ('SELECT "delete" FROM t', "postgresql"),
        ("SELECT `update` FROM t", "mysql"),
        ("SELECT 1 -- DELETE", "sqlite"),
        ("SELECT 1 /* DROP */", "mysql"),
        ("SELECT replace(name, 'a', 'b') FROM t", "mysql"),
        ("PRAGMA table_info(users)", "sqlite"),
        ("PRAGMA main.table_info('users')", "sqlite"),
        ("PRAGMA user_version", "sqlite"),
        ("SELECT E'it\\'s' FROM t", "postgresql"),
        ("SELECT start, begin_at FROM t", "postgresql"),
    ],
)
def test_read_only_check_allows_reads(sql: str, dialect: str) -> None:
    assert check_read_only(sql, dialect) in {
        "SELECT",
        "WITH",
        "VALUES",
        "EXPLAIN",
        "SHOW",
        "PRAGMA",
    }


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("INSERT INTO t VALUES (1)", "postgresql"),
        ("SELECT 1; SELECT 2", "sqlite"),
        ("SELECT 1;; DROP TABLE t", "postgresql"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "postgresql"),
        ("SELECT * INTO t2 FROM t", "postgresql"),
        ("SELECT * FROM t INTO OUTFILE '/tmp/x'", "mysql"),
        ("SELECT * FROM t FOR UPDATE", "mysql"),
        ("SELECT nextval('s')", "postgresql"),
        ("SELECT pg_catalog.setval('s', 1)", "postgresql"),
        ("SELECT set_config('default_transaction_read_only', 'off', false)", "postgresql"),
        ("SELECT 'a\\' ; DELETE FROM t; -- '", "mysql"),  # both backslash readings checked
        ("SELECT '\\' ; DELETE FROM t; --'", "postgresql"),  # no escapes in '' here
        ("SELECT 1 /*! ; DROP TABLE t */", "mysql"),
        ("SELECT 1 --x\n; DROP TABLE t", "mysql"),
        ("SELECT 1 # comment\n; DROP TABLE t", "mysql"),
        ("SELECT 'unterminated", "sqlite"),
        ("SELECT $a$ open", "postgresql"),
        ("PRAGMA query_only = OFF", "sqlite"),
        ("PRAGMA query_only(0)", "sqlite"),
        ("PRAGMA writable_schema", "sqlite"),
        ("ATTACH DATABASE 'x.db' AS x", "sqlite"),
        ("SET SESSION TRANSACTION READ WRITE", "mysql"),
        ("COMMIT", "postgresql"),
        ("CALL do_things()", "mysql"),
        ("", "sqlite"),
        ("-- only a comment", "postgresql"),
    ],
)
def test_read_only_check_refuses_anything_that_may_write(sql: str, dialect: str) -> None:
    with pytest.raises(UnsafeQueryError):
        check_read_only(sql, dialect)


def test_first_keyword_skips_comments_and_parentheses() -> None:
    assert first_keyword("  -- note\n /* c */ (select 1)") == "SELECT"
    assert first_keyword("insert into t values (1)") == "INSERT"
    assert first_keyword("") == ""


def test_urls_map_to_async_drivers() -> None:
    pg = to_async_url(
        "postgres://u:p@db.internal:5433/app?sslmode=require&options=-c%20search_path%3Dapp"
    )
    assert pg.url.drivername == "postgresql+asyncpg"
    assert pg.url.query == {"ssl": "require"}
    assert pg.connect_args == {"server_settings": {"search_path": "app"}}
    assert "p@" not in pg.display()
    assert to_async_url("mysql+pymysql://u@h/db").url.drivername == "mysql+aiomysql"
    assert to_async_url("mariadb://u@h/db").url.drivername == "mysql+aiomysql"
    assert to_async_url("sqlite:///x.db").url.drivername == "sqlite+aiosqlite"
    assert to_async_url("postgresql+asyncpg://h/db").url.drivername == "postgresql+asyncpg"


@pytest.mark.parametrize("url", ["oracle://u:pw@h/db", "not a url", "postgresql://h/db?options=x"])
def test_unsupported_urls_are_config_errors(url: str) -> None:
    with pytest.raises(NodeExecutionError) as caught:
        to_async_url(url)
    assert caught.value.retryable is False
    assert caught.value.error_type == "DatabaseConfigError"
    assert "pw" not in caught.value.message


def test_to_json_safe() -> None:
    value = {
        "when": dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC),
        "day": dt.date(2024, 5, 1),
        "time": dt.time(8, 30),
        "span": dt.timedelta(minutes=1, seconds=30),
        "money": Decimal("12.50"),
        "count": Decimal("42"),
        "huge": Decimal("1E+3"),
        "nan": Decimal("NaN"),
        "float_nan": float("nan"),
        "inf": float("-inf"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "blob": b"\x00\xff",
        "view": memoryview(b"ab"),
        "nested": [(1, {2: {3}})],
    }

    assert to_json_safe(value) == {
        "when": "2024-05-01T12:00:00+00:00",
        "day": "2024-05-01",
        "time": "08:30:00",
        "span": 90.0,
        "money": "12.50",
        "count": 42,
        "huge": 1000,
        "nan": "NaN",
        "float_nan": "NaN",
        "inf": "-Infinity",
        "id": "12345678-1234-5678-1234-567812345678",
        "blob": "AP8=",
        "view": "YWI=",
        "nested": [[1, {"2": [3]}]],
    }


def test_coerce_param() -> None:
    table = Table(
        "t",
        MetaData(),
        Column("n", Integer),
        Column("d", SaDate),
        Column("ts", SaDateTime(timezone=True)),
        Column("m", Numeric(10, 2)),
        Column("u", SaUuid),
        Column("b", LargeBinary),
    )
    c = table.c

    assert coerce_param(c.n, "42") == 42
    assert coerce_param(c.n, 7.0) == 7
    assert coerce_param(c.n, None) is None
    assert coerce_param(c.d, "2024-05-01") == dt.date(2024, 5, 1)
    assert coerce_param(c.ts, "2024-05-01T00:00:00Z") == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    assert coerce_param(c.m, 0.1) == Decimal("0.1")
    assert coerce_param(c.u, "12345678-1234-5678-1234-567812345678") == uuid.UUID(
        "12345678-1234-5678-1234-567812345678"
    )
    assert coerce_param(c.b, "AP8=") == b"\x00\xff"
    for column, bad in [(c.n, "4.5"), (c.n, "x"), (c.d, "May 1st"), (c.b, "not base64!")]:
        with pytest.raises(ValueCoercionError, match=repr(column.name)):
            coerce_param(column, bad)


# --- on Temporal: the activity path ------------------------------------------------------------


async def test_database_nodes_run_as_temporal_activities(
    temporal_client: Client, sqlite_db: TestDatabase, no_env: None
) -> None:
    await sqlite_db.create_tables()
    temporal = TemporalSettings(task_queue=f"flov7-db-test-{uuid.uuid4().hex[:8]}")
    works = {
        "id": "db-ok",
        "name": "Database on Temporal",
        "nodes": [
            {
                "id": "save",
                "type": "database",
                "data": {"operation": "insert", "table": "users", "values": "{{ input.user }}"},
            },
            {
                "id": "load",
                "type": "database",
                "data": {"operation": "select", "table": "users", "columns": ["id", "name"]},
            },
        ],
        "edges": [{"id": "e1", "source": "save", "target": "load"}],
    }
    broken = {
        "id": "db-broken",
        "name": "Unknown table",
        "nodes": [
            {"id": "load", "type": "database", "data": {"operation": "select", "table": "nope"}}
        ],
        "edges": [],
    }

    async with (
        NodeResources.open(database_settings(sqlite_db.url)) as db_resources,
        create_worker(temporal_client, temporal, resources=db_resources),
    ):
        ok = await (
            await start_execution(temporal_client, works, temporal, run_input={"user": BOB})
        ).result()
        failed = await result_document(await start_execution(temporal_client, broken, temporal))

    assert ok["status"] == "completed", ok
    assert ok["node_results"]["save"]["output"] == {"affected_rows": 1, "inserted_ids": [1]}
    assert ok["node_results"]["load"]["output"]["rows"] == [{"id": 1, "name": "Bob"}]
    assert failed["status"] == "failed"
    node = failed["node_results"]["load"]
    assert node["attempts"] == 1  # Not retryable: Temporal did not try again.
    assert node["error"]["type"] == "UnknownTable"
    assert "Unknown table 'nope'" in node["error"]["message"]
