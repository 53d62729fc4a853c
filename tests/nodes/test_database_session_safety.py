"""Read-only connections on real PostgreSQL and MariaDB: the parser's allow-lists, session
resets between uses of a pooled connection, and no bound value in error messages.

Each attack here worked before: a quoted or schema-qualified function name got past the
keyword check, and what one run set in its session (search_path, locks, variables)
stayed on the pooled connection for the next, unrelated run.
"""

from __future__ import annotations

from typing import Any

import pytest

from flov7.errors import NodeExecutionError
from flov7.nodes.resources import NodeResources
from flov7.nodes.sql.readonly import UnsafeQueryError, check_read_only
from nodes.db_fixtures import (
    TestDatabase,
    database_settings,
    db,
    db_resources,
    mysql_db,
    no_env,
    pg_db,
    run_database_node,
)

__all__ = ["db", "db_resources", "mysql_db", "no_env", "pg_db"]


async def run(resources: NodeResources, **config: Any) -> Any:
    return await run_database_node(resources, config)


async def fails(resources: NodeResources, **config: Any) -> NodeExecutionError:
    with pytest.raises(NodeExecutionError) as caught:
        await run_database_node(resources, config)
    return caught.value


POSTGRES_ATTACKS = [
    """SELECT pg_catalog."lo_import"('/etc/hostname')""",
    """SELECT "lo_import"('/etc/hostname')""",
    """SELECT "set_config"('search_path', 'pg_catalog', false)""",
    """SELECT pg_catalog.set_config('statement_timeout', '1', false)""",
    """SELECT "pg_advisory_lock"(42)""",
    """SELECT pg_catalog."pg_advisory_xact_lock"(42)""",
    """SELECT "pg_cancel_backend"(pg_backend_pid())""",
    """SELECT PG_TERMINATE_BACKEND(1)""",
    """SELECT "pg_sleep"(5)""",
    """SELECT * FROM (SELECT "nextval"('s')) AS x""",
    """SELECT 1 WHERE EXISTS (SELECT "lo_unlink"(1))""",
    """EXPLAIN ANALYZE SELECT "set_config"('search_path', 'x', false)""",
    """SHOW search_path; SELECT 1""",
    """SET search_path TO pg_catalog""",
    """RESET ALL""",
    """LISTEN channel""",
    """SELECT public.my_function(1)""",
]

MARIADB_ATTACKS = [
    "SELECT GET_LOCK('flov7', 0)",
    "SELECT `GET_LOCK`('flov7', 0)",
    "SELECT get_lock('flov7', 0) AS l",
    "SELECT RELEASE_ALL_LOCKS()",
    "SELECT SLEEP(5)",
    "SELECT BENCHMARK(100000000, MD5('x'))",
    "SELECT LOAD_FILE('/etc/hostname')",
    "SELECT @x := 1",
    "SET @x = 1",
    "SELECT 1 INTO @x",
    "SELECT * FROM users INTO OUTFILE '/tmp/x'",
    "DO GET_LOCK('flov7', 0)",
    "SELECT 'a\\\\' , GET_LOCK('x', 1) -- '",
]


@pytest.mark.parametrize("query", POSTGRES_ATTACKS)
def test_parser_refuses_postgres_side_effects(query: str) -> None:
    with pytest.raises(UnsafeQueryError):
        check_read_only(query, "postgresql")


@pytest.mark.parametrize("query", MARIADB_ATTACKS)
def test_parser_refuses_mariadb_side_effects(query: str) -> None:
    with pytest.raises(UnsafeQueryError):
        check_read_only(query, "mysql")


@pytest.mark.parametrize(
    ("query", "backend"),
    [
        ("SELECT lower(name), count(*) FROM users GROUP BY 1 HAVING count(*) > :n", "postgresql"),
        ("SELECT pg_catalog.lower(name) FROM users", "postgresql"),
        ("SELECT coalesce(age, 0) + 1 AS a, now() AS t, name::text FROM users", "postgresql"),
        ("SELECT jsonb_build_object('n', name) -> 'n' FROM users", "postgresql"),
        ("SELECT EXISTS (SELECT 1 FROM users) AS e", "postgresql"),
        ("EXPLAIN (FORMAT JSON) SELECT * FROM users", "postgresql"),
        ("SELECT CONCAT(name, '!') FROM users WHERE age > :age ORDER BY name LIMIT 3", "mysql"),
        ("SELECT DATE_FORMAT(NOW(), '%Y') AS y, IFNULL(age, 0) FROM users", "mysql"),
        ("SELECT COUNT(*) AS n FROM users", "sqlite"),
    ],
)
def test_parser_allows_ordinary_reads(query: str, backend: str) -> None:
    check_read_only(query, backend)


async def test_quoted_lo_import_is_refused_and_stores_nothing(
    pg_db: TestDatabase, no_env: None
) -> None:
    before = await pg_db.run("SELECT count(*) AS n FROM pg_largeobject_metadata")
    async with NodeResources.open(database_settings(pg_db.url)) as resources:
        error = await fails(
            resources,
            connection="readonly",
            operation="query",
            query="""SELECT pg_catalog."lo_import"('/etc/hostname') AS oid""",
        )
    assert error.error_type == "ReadOnlyConnection"
    assert error.retryable is False
    assert "lo_import()" in error.message
    assert await pg_db.run("SELECT count(*) AS n FROM pg_largeobject_metadata") == before


async def test_mariadb_get_lock_is_refused(mysql_db: TestDatabase, no_env: None) -> None:
    async with NodeResources.open(database_settings(mysql_db.url)) as resources:
        error = await fails(
            resources, connection="readonly", operation="query", query="SELECT GET_LOCK('f7', 0)"
        )
    assert error.error_type == "ReadOnlyConnection"
    assert await mysql_db.run("SELECT IS_USED_LOCK('f7') AS holder") == [{"holder": None}]


# --- session state never outlives one use of a pooled connection -------------------------


async def test_postgres_session_settings_do_not_reach_the_next_run(
    pg_db: TestDatabase, no_env: None
) -> None:
    async with NodeResources.open(database_settings(pg_db.url)) as resources:
        first = await run(resources, operation="query", query="SHOW search_path")
        # Allowed on a read-write connection; must not outlive this run's session.
        await run(
            resources,
            operation="query",
            query="SELECT set_config('search_path', 'pg_catalog', false) AS s, "
            "set_config('statement_timeout', '1234', false) AS t, pg_advisory_lock(4242) AS l",
        )
        after = await run(resources, operation="query", query="SHOW search_path")
        timeout = await run(resources, operation="query", query="SHOW statement_timeout")
        locks = await pg_db.run(
            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"
        )
        read_only = await run(
            resources, connection="readonly", operation="query", query="SHOW transaction_read_only"
        )
        read_only_again = await run(
            resources, connection="readonly", operation="query", query="SHOW transaction_read_only"
        )
    assert after["rows"] == first["rows"]
    assert timeout["rows"] != [{"statement_timeout": "1234ms"}]
    assert locks == [{"n": 0}]
    assert read_only["rows"] == read_only_again["rows"] == [{"transaction_read_only": "on"}]


async def test_mariadb_session_state_does_not_reach_the_next_run(
    mysql_db: TestDatabase, no_env: None
) -> None:
    async with NodeResources.open(database_settings(mysql_db.url)) as resources:
        await run(
            resources,
            operation="query",
            query="SELECT GET_LOCK('flov7_pool', 0) AS l, @leak := 'secret' AS v",
        )
        leaked = await run(resources, operation="query", query="SELECT @leak AS v")
        holder = await mysql_db.run("SELECT IS_USED_LOCK('flov7_pool') AS holder")
        flags = [
            await run(
                resources,
                connection="readonly",
                operation="query",
                query="SELECT @@tx_read_only AS flag",
            )
            for _ in range(3)
        ]
        text = await run(resources, operation="query", query="SELECT :t AS t", params={"t": "é😀"})
    assert leaked["rows"] == [{"v": None}]
    assert holder == [{"holder": None}]
    assert text["rows"] == [{"t": "é😀"}]  # the character set survives the reset
    assert [flag["rows"] for flag in flags] == [[{"flag": 1}]] * 3


# --- bound values never appear in database errors ----------------------------------------


async def test_bound_values_are_not_quoted_in_errors(
    db: TestDatabase, db_resources: NodeResources
) -> None:
    await db.create_tables()
    secret = "TopSecretValue42"
    cast = {"postgresql": "INTEGER", "mysql": "SIGNED", "sqlite": "INTEGER"}[db.backend]
    error = await fails(
        db_resources,
        operation="query",
        query=f"SELECT CAST(:v AS {cast}) + nonexistent_column AS x FROM users",
        params={"v": secret},
    )
    assert secret not in error.message
    first = {"name": "a", "email": secret}
    await run(db_resources, operation="insert", table="users", values=first)
    duplicate = await fails(
        db_resources, operation="insert", table="users", values={"name": "b", "email": secret}
    )
    assert duplicate.error_type == "DatabaseError"
    assert secret not in duplicate.message
    assert secret not in str(duplicate.details)


async def test_postgres_invalid_input_hides_the_value(pg_db: TestDatabase, no_env: None) -> None:
    async with NodeResources.open(database_settings(pg_db.url)) as resources:
        error = await fails(
            resources,
            operation="query",
            query="SELECT CAST(CAST(:v AS TEXT) AS INTEGER) AS n",
            params={"v": "hunter2-password"},
        )
    assert "invalid input syntax" in error.message
    assert "hunter2-password" not in error.message
    assert "<parameter>" in error.message
