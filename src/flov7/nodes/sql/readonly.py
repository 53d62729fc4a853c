"""Is a raw SQL statement read-only? A conservative, dialect-aware check.

Used for raw ``query`` operations on read-only connections. It is the first of three
guards: the statement is then parsed and checked against allow-lists of statement kinds
and functions (:mod:`flov7.nodes.sql.parsed`), and the database itself is told (see
:mod:`flov7.nodes.sql.registry`), so a statement the checks misjudge as harmless still
cannot write. This first guard is a token scan that errs on the side of refusing:

- exactly one statement (one trailing ``;`` at most);
- it starts with ``SELECT``, ``WITH``, ``VALUES``, ``TABLE``, ``EXPLAIN``, ``SHOW``,
  ``DESCRIBE`` / ``DESC`` or, on SQLite, a reading ``PRAGMA``;
- no write keyword anywhere outside string literals and quoted identifiers
  (``INSERT``, ``UPDATE``, ``DELETE``, ``INTO``, ``FOR UPDATE``, ``nextval(``...), so
  PostgreSQL data-modifying CTEs and ``SELECT ... INTO`` are refused too.

Quoting rules differ per database, and misreading where a string ends could hide a
keyword. Where the reading is ambiguous (MySQL's backslash escapes depend on
``sql_mode``) the statement is tokenized both ways and must pass both.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from flov7.errors import Flov7Error
from flov7.nodes.sql.parsed import ParsedUnsafe, check_parsed_read_only

__all__ = ["UnsafeQueryError", "check_read_only", "first_keyword"]

_READ_STARTS = frozenset(
    {"SELECT", "WITH", "VALUES", "TABLE", "EXPLAIN", "SHOW", "DESCRIBE", "DESC"}
)

# Keywords that can make an otherwise reading statement write or lock.
_WRITE_WORDS = frozenset(
    {
        "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "CREATE", "ALTER",
        "DROP", "TRUNCATE", "RENAME", "GRANT", "REVOKE", "COPY", "INTO", "OUTFILE",
        "DUMPFILE", "LOCK", "UNLOCK", "CALL", "ATTACH", "DETACH", "VACUUM", "REINDEX",
    }
)  # fmt: skip

# Functions with side effects (sequences, configuration, sessions, files, locks).
_WRITE_FUNCTIONS = frozenset(
    {
        "NEXTVAL", "SETVAL", "SET_CONFIG", "LO_IMPORT", "LO_EXPORT", "LO_UNLINK",
        "LO_CREATE", "LO_FROM_BYTEA", "LO_PUT", "DBLINK_EXEC", "PG_TERMINATE_BACKEND",
        "PG_CANCEL_BACKEND", "PG_RELOAD_CONF", "PG_ROTATE_LOGFILE", "PG_PROMOTE",
        "PG_SWITCH_WAL", "PG_CREATE_RESTORE_POINT", "PG_ADVISORY_LOCK",
        "PG_ADVISORY_XACT_LOCK", "GET_LOCK", "RELEASE_LOCK", "LOAD_FILE", "LOAD_EXTENSION",
        "WRITEFILE",
    }
)  # fmt: skip

# SQLite pragmas that only read, with or without an argument (table_info(users)).
_PRAGMA_INTROSPECTION = frozenset(
    {
        "table_info", "table_xinfo", "table_list", "index_list", "index_info",
        "index_xinfo", "foreign_key_list", "foreign_key_check", "database_list",
        "collation_list", "function_list", "module_list", "pragma_list",
        "compile_options", "integrity_check", "quick_check",
    }
)  # fmt: skip
# Pragmas that read a setting when given no argument (and would change it with one).
_PRAGMA_SETTINGS = frozenset(
    {
        "user_version", "schema_version", "application_id", "page_count", "page_size",
        "freelist_count", "encoding", "journal_mode", "foreign_keys", "query_only",
        "data_version", "cache_size", "busy_timeout", "synchronous", "auto_vacuum",
    }
)  # fmt: skip


class UnsafeQueryError(Flov7Error, ValueError):
    """The statement is not (provably) read-only; the message says why."""


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "punct" (one character), "literal" (string or quoted identifier)
    text: str


def first_keyword(sql: str) -> str:
    """The statement's first keyword, upper-cased ('' if none), skipping comments."""
    stripped = re.sub(r"^(\s+|--[^\n]*\n?|/\*.*?\*/|\()*", "", sql, flags=re.DOTALL)
    match = re.match(r"[A-Za-z_]+", stripped)
    return match.group(0).upper() if match else ""


def check_read_only(sql: str, dialect: str) -> str:
    """Raise :class:`UnsafeQueryError` unless ``sql`` is one reading statement.

    ``dialect`` is ``postgresql``, ``mysql`` or ``sqlite``. Returns the statement's
    first keyword (upper case).
    """
    readings = (True, False) if dialect == "mysql" else (False,)
    keyword = ""
    for backslash_escapes in readings:
        tokens = list(_tokenize(sql, dialect, backslash_escapes=backslash_escapes))
        keyword = _check_tokens(tokens, dialect)
    if keyword == "PRAGMA":
        return keyword  # SQLite only, checked in full by _check_pragma
    # The keyword scan cannot see a quoted or schema-qualified function name
    # (pg_catalog."lo_import"(...)): the parser's allow-lists decide that.
    try:
        check_parsed_read_only(sql, dialect)
    except ParsedUnsafe as exc:
        raise UnsafeQueryError(str(exc)) from None
    return keyword


def _check_tokens(tokens: list[_Token], dialect: str) -> str:
    # A trailing ";" is harmless; any other ";" separates a second statement.
    while tokens and tokens[-1].text == ";":
        tokens.pop()
    if any(token.text == ";" for token in tokens):
        raise UnsafeQueryError("only a single statement is allowed")
    start = 0
    while start < len(tokens) and tokens[start].text == "(":
        start += 1
    if start == len(tokens) or tokens[start].kind != "word":
        raise UnsafeQueryError("empty or unrecognised statement")
    keyword = tokens[start].text.upper()
    if keyword == "PRAGMA" and dialect == "sqlite":
        _check_pragma(tokens[start + 1 :])
        return keyword
    if keyword not in _READ_STARTS:
        raise UnsafeQueryError(
            f"{keyword} statements are not allowed; a read-only connection runs "
            "SELECT, WITH ... SELECT, VALUES, EXPLAIN or SHOW"
        )
    for index, token in enumerate(tokens):
        if token.kind != "word":
            continue
        word = token.text.upper()
        if word in _WRITE_WORDS:
            raise UnsafeQueryError(f"write keyword {word} is not allowed")
        is_call = index + 1 < len(tokens) and tokens[index + 1].text == "("
        if is_call and word in _WRITE_FUNCTIONS:
            raise UnsafeQueryError(f"function {word.lower()}() is not allowed")
    return keyword


def _check_pragma(rest: list[_Token]) -> None:
    # PRAGMA [schema.]name[(argument)]
    if len(rest) >= 2 and rest[1].text == ".":
        rest = rest[2:]
    if not rest or rest[0].kind != "word":
        raise UnsafeQueryError("PRAGMA needs a name")
    name = rest[0].text.lower()
    tail = rest[1:]
    if any(token.text == "=" for token in tail):
        raise UnsafeQueryError("PRAGMA assignments are not allowed")
    if name in _PRAGMA_INTROSPECTION:
        if tail and not (tail[0].text == "(" and tail[-1].text == ")" and len(tail) <= 3):
            raise UnsafeQueryError(f"unexpected tokens after PRAGMA {name}")
        return
    if name in _PRAGMA_SETTINGS and not tail:
        return
    raise UnsafeQueryError(f"PRAGMA {name} is not a reading pragma allowed here")


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_NUMBER = re.compile(r"[0-9][0-9A-Za-z_.]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def _tokenize(sql: str, dialect: str, *, backslash_escapes: bool) -> Iterator[_Token]:
    index = 0
    length = len(sql)
    while index < length:
        char = sql[index]
        if char.isspace():
            index += 1
        elif (sql.startswith("--", index) and _dash_comment(sql, index, dialect)) or (
            char == "#" and dialect == "mysql"
        ):
            index = _line_end(sql, index)
        elif sql.startswith("/*", index):
            if dialect == "mysql" and sql.startswith(("/*!", "/*M!"), index):
                # MySQL runs the text of these "comments" as SQL.
                raise UnsafeQueryError("MySQL executable comments (/*! ... */) are not allowed")
            # Not nested: if the database nests (PostgreSQL), more text is read, not less.
            end = sql.find("*/", index + 2)
            if end < 0:
                raise UnsafeQueryError("unterminated comment")
            index = end + 2
        elif char in "'\"`" or (char == "[" and dialect == "sqlite"):
            index = _quoted(sql, index, backslash_escapes=backslash_escapes)
            yield _Token("literal", sql[index - 1])
        elif char in "eE" and dialect == "postgresql" and sql.startswith("'", index + 1):
            # E'...' strings take backslash escapes even with standard_conforming_strings.
            index = _quoted(sql, index + 1, backslash_escapes=True)
            yield _Token("literal", "'")
        elif char == "$" and dialect == "postgresql" and (tag := _DOLLAR_TAG.match(sql, index)):
            end = sql.find(tag.group(0), tag.end())
            if end < 0:
                raise UnsafeQueryError("unterminated dollar-quoted string")
            index = end + len(tag.group(0))
            yield _Token("literal", "$")
        elif word := _WORD.match(sql, index):
            index = word.end()
            yield _Token("word", word.group(0))
        elif number := _NUMBER.match(sql, index):
            index = number.end()
            yield _Token("literal", "0")
        else:
            index += 1
            yield _Token("punct", char)


def _dash_comment(sql: str, index: int, dialect: str) -> bool:
    # MySQL needs whitespace after "--"; elsewhere "--" always starts a comment.
    if dialect != "mysql":
        return True
    after = sql[index + 2 : index + 3]
    return after == "" or after.isspace()


def _line_end(sql: str, index: int) -> int:
    end = sql.find("\n", index)
    return len(sql) if end < 0 else end + 1


def _quoted(sql: str, index: int, *, backslash_escapes: bool) -> int:
    """Index just past the literal or quoted identifier starting at ``index``."""
    opening = sql[index]
    closing = "]" if opening == "[" else opening
    # Backslashes escape inside MySQL strings (not `identifiers`) and PostgreSQL E''.
    escapes = backslash_escapes and opening in "'\""
    position = index + 1
    while position < len(sql):
        char = sql[position]
        if escapes and char == "\\":
            position += 2
            continue
        if char == closing:
            if closing != "]" and sql.startswith(closing, position + 1):
                position += 2  # A doubled quote is an escaped quote.
                continue
            return position + 1
        position += 1
    raise UnsafeQueryError("unterminated string or quoted identifier")
