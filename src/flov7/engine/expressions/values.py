"""Values as users see them: type names, text and JSON forms, argument checks, ``in``.

Messages name types the way a workflow author knows them (``string``, ``list``, ``dict``,
``null``) and never show a Python ``repr``, so no internals leak into errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flov7.engine.expressions.limits import (
    HEAVY_CHARS_PER_STEP,
    MAX_STR_LENGTH,
    Budget,
    check_str_len,
)
from flov7.engine.json_check import JsonTooLarge, NotPlainJson, measure_json
from flov7.errors import ExpressionError


def short(text: str, limit: int = 60) -> str:
    """Clip user text quoted in error messages so messages stay short."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(value: Any) -> str:
    """User-facing type name; never a repr, so no Python internals leak into messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "dict"
    return "object"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float)


def _json_default(value: Any) -> Any:
    # Mappings that are not dicts (e.g. MappingProxyType) still encode as objects; anything
    # else becomes its str() so rendering never crashes on a non-JSON value in the scope.
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def to_json(value: Any, budget: Budget | None = None, limit: int = MAX_STR_LENGTH) -> str:
    """Compact JSON (no spaces, non-ASCII kept as is), at most ``limit`` characters.

    The size is measured first, without serialising (a value sharing one large reference
    many times is cheap in memory and huge as text), and charged to ``budget``: one step
    per value walked and per :data:`HEAVY_CHARS_PER_STEP` characters written.
    """
    try:
        measured = measure_json(value, limit=limit, strict=False, ascii=False)
    except JsonTooLarge as exc:
        if budget is not None:
            budget.charge(exc.visits)
        raise ExpressionError(f"String too long (more than {limit} characters)") from None
    except NotPlainJson as exc:
        raise ExpressionError(
            f"Value cannot be converted to JSON: {exc.problem} at {short(exc.path)}"
        ) from None
    if budget is not None:
        budget.charge(measured.visits)
        budget.charge_chars(measured.size, HEAVY_CHARS_PER_STEP)
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ExpressionError(f"Value cannot be converted to JSON: {short(str(exc))}") from None


def to_text(value: Any, budget: Budget | None = None, limit: int = MAX_STR_LENGTH) -> str:
    """Text form used by templates and ``str()``: JSON-flavoured, never a Python repr.

    Strings pass through as they are (they exist already); anything converted is at
    most ``limit`` characters.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        try:
            return str(value)
        except ValueError:  # int with more digits than Python will print
            raise ExpressionError("Integer too large to convert to text") from None
    if isinstance(value, list | tuple | Mapping):
        return to_json(value, budget, limit)
    text = str(value)
    check_str_len(len(text))
    return text


def hashable_key(value: Any, what: str) -> Any:
    """``value`` if it can be a dict key (string, number, bool, null); otherwise refuse."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    raise ExpressionError(f"{what} must be a string or number, got {type_name(value)}")


# --- argument checks for functions and methods --------------------------------------------


def need_str(label: str, value: Any, what: str = "a string") -> str:
    if not isinstance(value, str):
        raise ExpressionError(f"{label} needs {what}, got {type_name(value)}")
    return value


def need_list(label: str, value: Any) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise ExpressionError(f"{label} needs a list, got {type_name(value)}")
    return value


def need_number(label: str, value: Any) -> int | float:
    if not is_number(value):
        raise ExpressionError(f"{label} needs a number, got {type_name(value)}")
    return value  # type: ignore[no-any-return]


def need_dict(label: str, value: Any) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise ExpressionError(f"{label} needs a dict, got {type_name(value)}")
    return value


# --- membership ---------------------------------------------------------------------------


def search_cost(haystack: int, needle: int) -> int:
    """Characters of work, at worst, to find a needle in a haystack (``in``, ``count``...).

    Follows CPython's substring search (``fastsearch.h``, 3.10 to 3.13): small problems and
    needles under 100 characters in haystacks under 30,000 use a direct search that is
    ``n * m`` at worst; larger ones use the two-way algorithm, linear in ``n + m``.
    """
    n, m = haystack, needle
    if m <= 1 or m > n:
        return n + m
    if n < 2500 or (m < 100 and n < 30000):
        return n * m
    if m < 6:
        return 6 * n
    return 8 * (n + m)


def contains(budget: Budget, container: Any, item: Any, what: str) -> bool:
    """``item in container`` for the ``in`` operator and ``contains()``."""
    if container is None:  # a missing list/dict contains nothing
        return False
    if isinstance(container, str):
        if not isinstance(item, str):
            raise ExpressionError(
                f"'{what}' on a string needs a string on the left, got {type_name(item)}"
            )
        budget.charge_chars(search_cost(len(container), len(item)))
        return item in container
    if isinstance(container, list | tuple):
        # Each item is compared with ``item``: strings by their characters, containers by
        # what they hold (equality walks them).
        budget.charge(len(container))
        if isinstance(item, str):
            budget.charge_chars(len(container) * len(item))
        elif isinstance(item, list | tuple | Mapping):
            items, chars = budget.weight(item)
            budget.charge(len(container) * items)
            budget.charge_chars(len(container) * chars)
        return item in container
    if isinstance(container, Mapping):
        return hashable_key(item, "Dict key") in container
    raise ExpressionError(f"Cannot use '{what}' with a {type_name(container)}")
