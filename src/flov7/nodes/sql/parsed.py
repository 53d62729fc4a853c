"""Read-only SQL, checked on the statement's syntax tree (sqlglot), by allow-lists.

The second of the checks a raw query on a read-only connection must pass (the first is
the conservative token scan of :mod:`flov7.nodes.sql.readonly`; the database's read-only
session and transaction come after both). The statement is parsed with sqlglot for the
connection's dialect, and refused unless

- it is exactly one statement of an allowed kind (:data:`ALLOWED_STATEMENTS`: ``SELECT``
  and set operations, ``VALUES``, ``TABLE``, ``DESCRIBE``, ``SHOW``, ``EXPLAIN`` of an
  allowed statement; SQLite pragmas are left to the token scan, which allows only
  reading ones);
- no node of its tree writes, locks or changes the session (``INSERT``/``UPDATE``/...
  anywhere, data-modifying CTEs, ``SELECT ... INTO``, ``FOR UPDATE``, ``SET``...);
- every function it calls is on :data:`ALLOWED_FUNCTIONS`, whatever its quoting, case or
  schema prefix: ``pg_catalog."lo_import"(...)`` is the function ``lo_import`` and is
  refused, like ``"set_config"``, ``pg_advisory_lock``, ``pg_cancel_backend``, MariaDB's
  ``GET_LOCK`` or any user-defined function (which may write).

MySQL's backslash escapes depend on the server's ``sql_mode``; where it matters the
statement is parsed both ways and must pass both.
"""

from __future__ import annotations

import logging
import re

import sqlglot
from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.errors import SqlglotError

from flov7.errors import Flov7Error

__all__ = ["ALLOWED_FUNCTIONS", "ALLOWED_STATEMENTS", "ParsedUnsafe", "check_parsed_read_only"]

# sqlglot warns on every statement it keeps as a raw command (EXPLAIN, SHOW on PostgreSQL);
# those are checked here, and the warnings would fill the worker's log.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


class _MySQLWithoutBackslashEscapes(MySQL):
    """MySQL as read under ``NO_BACKSLASH_ESCAPES``: ``\\`` is an ordinary character."""

    class Tokenizer(MySQL.Tokenizer):
        STRING_ESCAPES = ["'", '"']


_DIALECTS: dict[str, tuple[str | type[MySQL], ...]] = {
    "postgresql": ("postgres",),
    "mysql": ("mysql", _MySQLWithoutBackslashEscapes),
    "sqlite": ("sqlite",),
}

ALLOWED_STATEMENTS: tuple[type[exp.Expr], ...] = (
    exp.Select,
    exp.SetOperation,  # UNION, INTERSECT, EXCEPT
    exp.Values,
    exp.Describe,
    exp.Show,
    exp.Subquery,  # (SELECT ...)
)
"""Statement kinds a read-only connection runs (``TABLE t`` parses as a ``SELECT``)."""

_FORBIDDEN_NODES: tuple[type[exp.Expr], ...] = (
    exp.DML,  # INSERT, UPDATE, DELETE, MERGE (also inside CTEs)
    exp.DDL,  # CREATE, DROP, ALTER...
    exp.Into,  # SELECT ... INTO
    exp.Lock,  # FOR UPDATE / FOR SHARE
    exp.Command,  # anything sqlglot could not parse into a known statement
    exp.Set,
    exp.Pragma,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Use,
    exp.Copy,
    exp.LoadData,
    exp.PropertyEQ,  # MySQL's @variable := value
)

_OPERATORS = (exp.Binary, exp.Unary, exp.Connector)
"""sqlglot models some operators as functions (AND, OR, ``->``, ``@>``): not calls."""

# Names as sqlglot normalises known functions, and as written for the others; compared
# in lower case. Only functions without side effects: no sequences, settings, locks,
# files, large objects, backend signals, sleeps or user-defined functions.
_ALLOWED_FUNCTION_NAMES = """
abs acos asin atan atan2 cbrt ceil ceiling cos cot degrees div exp floor ln log log10
log2 mod pi pow power radians round sign sin sqrt tan trunc truncate greatest least
random rand width_bucket safe_divide
count count_if sum avg min max stddev stddev_pop stddev_samp variance var_pop var_samp
array_agg string_agg group_concat json_agg jsonb_agg json_object_agg jsonb_object_agg
json_arrayagg json_objectagg bool_and bool_or every bit_and bit_or bit_xor
logical_and logical_or percentile_cont percentile_disc mode median corr covar_pop
covar_samp regr_slope regr_intercept arg_max arg_min any_value approx_distinct
approx_quantile array_concat_agg group_concat_agg total
row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value
last_value nth_value first last
coalesce nullif ifnull nvl if iif case cast try_cast convert safe_cast
lower upper initcap length char_length character_length octet_length bit_length
substring substr left right trim ltrim rtrim btrim lpad rpad pad concat concat_ws
replace reverse repeat strpos position locate instr split_part string_to_array
split translate ascii chr char unicode format md5 sha sha1 sha2 sha256 encode decode
to_hex hex unhex quote quote_ident quote_literal regexp_replace regexp_like
regexp_extract regexp_matches regexp_split_to_array regexp_split_to_table
regexp_substr regexp_instr regexp_count starts_with ends_with string_to_table
to_base64 from_base64 soundex levenshtein printf glob like ilike overlay
space elt field find_in_set mid insert_string
current_date current_time current_timestamp current_datetime localtime
localtimestamp now sysdate curdate curtime utc_timestamp utc_date utc_time
date_trunc timestamp_trunc datetime_trunc time_trunc date date_add date_sub
date_diff datediff timestamp_diff timestampdiff timestamp_add timestampadd
timestamp_sub datetime_add datetime_sub datetime_diff date_format time_to_str
str_to_time str_to_date to_char to_date to_timestamp to_number extract date_part
age make_date make_time make_timestamp make_interval justify_days justify_hours
justify_interval isfinite year month day dayofmonth dayofweek dayofyear week
weekofyear quarter hour minute second last_day from_unixtime unix_timestamp
unix_to_time time_to_unix strftime julianday datetime time unixepoch
ts_or_ds_to_date ts_or_ds_add date_from_parts timestamp_from_parts
date_str_to_date date_to_date_str time_str_to_time time_str_to_date
time_str_to_unix day_of_week day_of_month day_of_year week_of_year
monthname dayname interval generate_date_array
json_extract json_extract_scalar jsonb_extract json_extract_path
json_extract_path_text jsonb_extract_path jsonb_extract_path_text json_build_object
jsonb_build_object json_build_array jsonb_build_array to_json to_jsonb json_object
json_array json_array_length jsonb_array_length json_typeof jsonb_typeof json_valid
json_keys json_contains json_unquote json_quote json_type json_length json_value
json_query json_format parse_json jsonb_pretty jsonb_contains jsonb_exists
json_each json_each_text jsonb_each jsonb_each_text json_array_elements
jsonb_array_elements json_array_elements_text jsonb_array_elements_text
json_object_keys jsonb_object_keys json_strip_nulls jsonb_strip_nulls
jsonb_set jsonb_insert json_patch json_remove json_replace json_set json_insert
json_group_array json_group_object jsonb_path_query jsonb_path_exists
json_extract_array json_extract_array_scalar jsonb_contained json_exists
array array_length array_position array_positions array_remove array_replace
array_to_string array_append array_prepend array_cat cardinality unnest
array_contains array_size array_upper array_lower array_dims array_ndims
array_slice array_to_json array_overlaps array_contains_all array_filter
array_has array_any array_all array_first array_last array_reverse array_sort
array_intersect array_union array_distinct arrays_overlap explode posexplode
generate_series exploding_generate_series generate_subscripts range
struct struct_extract map var_map
uuid gen_random_uuid uuid_generate_v4 bool_to_int to_boolean boolean
num_nonnulls num_nulls typeof pg_typeof
version current_user current_schema current_database database schema user
session_user current_role
st_astext st_distance
exists grouping grouping_id contains nvl2 substring_index str_position lower_hex
to_days timestamp string is_nan is_inf factorial acosh asinh atanh cosh sinh tanh
add_months months_between regexp_extract_all kurtosis skewness variance_pop
time_add time_sub time_diff unix_to_str unix_to_time_str unix_seconds unix_millis
unix_date date_from_unix_date base64_encode to_base32 from_base32 byte_length
ts_or_ds_to_timestamp ts_or_ds_to_datetime ts_or_ds_to_time ts_or_ds_to_date_str
ts_or_ds_diff str_to_unix time_str_to_time
"""

ALLOWED_FUNCTIONS = frozenset(_ALLOWED_FUNCTION_NAMES.split())
"""Functions a read-only statement may call, in lower case."""

_EXPLAIN_OPTIONS = re.compile(
    r"^\s*(?:\((?:[^()]|\([^()]*\))*\)|(?:analy[sz]e|verbose|extended|partitions|costs|"
    r"buffers|format\s*=?\s*\w+|query\s+plan)\b)\s*",
    re.IGNORECASE,
)
_SHOW_SETTING = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_.]*\s*;?\s*$")


class ParsedUnsafe(Flov7Error, ValueError):
    """The parsed statement is not read-only; the message says why."""


def check_parsed_read_only(sql: str, backend: str) -> None:
    """Raise :class:`ParsedUnsafe` unless ``sql`` parses to one allowed reading statement.

    ``backend`` is ``postgresql``, ``mysql`` or ``sqlite``. Every reading of the text the
    server might take (see the module docstring) must pass.
    """
    dialects = _DIALECTS.get(backend, ("postgres",))
    if backend == "mysql" and _plain_values(sql):
        # MariaDB runs a bare VALUES list, which sqlglot's MySQL dialect does not parse.
        # Without backticks, double quotes, backslashes or '#' comments the two dialects
        # read the text alike, so PostgreSQL's grammar checks it.
        dialects = ("postgres",)
    for dialect in dialects:
        _check(sql, dialect, depth=0)


def _plain_values(sql: str) -> bool:
    return bool(re.match(r"^\s*values\b", sql, re.IGNORECASE)) and not any(
        char in sql for char in '`\\"#'
    )


def _check(sql: str, dialect: str | type[MySQL], *, depth: int) -> None:
    try:
        statements = [tree for tree in sqlglot.parse(sql, read=dialect) if tree is not None]
    except SqlglotError as exc:
        raise ParsedUnsafe(f"the statement could not be parsed ({_first_line(exc)})") from None
    if len(statements) != 1:
        raise ParsedUnsafe("only a single statement is allowed")
    tree = statements[0]
    if isinstance(tree, exp.Command):
        _check_command(tree, dialect, depth=depth)
        return
    if not isinstance(tree, ALLOWED_STATEMENTS):
        raise ParsedUnsafe(f"{tree.key.upper()} statements are not allowed")
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise ParsedUnsafe(f"{_describe(node)} is not allowed in a read-only statement")
        if isinstance(node, exp.Func) and not isinstance(node, _OPERATORS):
            name = _function_name(node)
            if name not in ALLOWED_FUNCTIONS:
                raise ParsedUnsafe(f"function {name}() is not allowed on a read-only connection")


def _check_command(tree: exp.Command, dialect: str | type[MySQL], *, depth: int) -> None:
    keyword = str(tree.this).upper()
    rest = tree.expression.name if isinstance(tree.expression, exp.Expression) else ""
    if keyword == "SHOW" and _SHOW_SETTING.match(rest):
        return  # PostgreSQL: SHOW <setting> reads one setting
    if keyword in ("EXPLAIN", "DESCRIBE", "DESC") and depth == 0:
        # EXPLAIN ANALYZE runs the statement: the statement must pass on its own.
        while match := _EXPLAIN_OPTIONS.match(rest):
            if not match.group(0):
                break
            rest = rest[match.end() :]
        _check(rest, dialect, depth=depth + 1)
        return
    raise ParsedUnsafe(f"{keyword} statements are not allowed")


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        # The written name, unquoted; a schema prefix is a separate node (exp.Dot).
        return str(node.name).lower()
    return str(node.sql_name()).lower()


def _describe(node: exp.Expr) -> str:
    names = {exp.Into: "SELECT ... INTO", exp.Lock: "FOR UPDATE / FOR SHARE"}
    for kind, text in names.items():
        if isinstance(node, kind):
            return text
    if isinstance(node, exp.Command):
        return f"the command {str(node.this).upper()}"
    return f"a {node.key.upper()} statement"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
