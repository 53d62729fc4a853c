"""The whitelisted functions (``len()``, ``default()``, ``json_decode()``...) and the calling
convention shared with :mod:`.methods`.

Every implementation takes the evaluation's :class:`~.limits.Budget` first, validates its
own arguments, charges the budget for the sizes it will touch and produce *before* doing
the work (see the cost model in :mod:`.limits`), refuses results over the string and list
limits, and raises :class:`ExpressionError`; :func:`call_guarded` turns any stray Python
exception into one too. Nothing here can reach Python objects beyond its arguments.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from flov7.engine.expressions.limits import (
    COMPARES_PER_STEP,
    HEAVY_CHARS_PER_STEP,
    MAX_COLLECTION_ITEMS,
    MAX_EXPONENT,
    MAX_JSON_DEPTH,
    MAX_NUMBER_TEXT,
    MAX_STR_LENGTH,
    Budget,
    check_items,
    check_number,
    check_str_len,
)
from flov7.engine.expressions.lists import LIST_FUNCTIONS
from flov7.engine.expressions.names import data_key
from flov7.engine.expressions.values import (
    contains,
    hashable_key,
    is_number,
    need_dict,
    need_list,
    need_number,
    need_str,
    search_cost,
    short,
    to_json,
    to_text,
    type_name,
)
from flov7.errors import ExpressionError

Table = dict[str, tuple[Callable[..., Any], int, int | None]]
"""name -> (implementation, min args, max args or None for variadic)."""


def check_arity(label: str, count: int, min_args: int, max_args: int | None) -> None:
    if count < min_args or (max_args is not None and count > max_args):
        if max_args is None:
            expected = f"at least {min_args}"
        elif min_args == max_args:
            expected = str(min_args)
        else:
            expected = f"{min_args} to {max_args}"
        plural = "" if expected == "1" else "s"
        raise ExpressionError(f"{label} takes {expected} argument{plural}, got {count}")


def call_guarded(
    label: str, implementation: Callable[..., Any], budget: Budget, args: list[Any]
) -> Any:
    # The implementations validate their arguments and raise ExpressionError themselves;
    # this is the safety net that keeps a stray Python exception from escaping as a crash.
    try:
        return implementation(budget, *args)
    except ExpressionError:
        raise
    except ZeroDivisionError:
        raise ExpressionError(f"{label}: division by zero") from None
    except OverflowError:
        raise ExpressionError(f"{label}: number too large") from None
    except (TypeError, ValueError) as exc:
        raise ExpressionError(f"{label}: {short(str(exc), 120)}") from None


# --- conversions and numbers ----------------------------------------------------------------


def _fn_len(ev: Budget, value: Any) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise ExpressionError(f"len() needs a string, list or dict, got {type_name(value)}")


def _fn_str(ev: Budget, value: Any) -> str:
    text = to_text(value, ev)
    check_str_len(len(text))
    return text


def _number_text(ev: Budget, label: str, text: str) -> str:
    ev.charge_chars(len(text))
    text = text.strip()
    if len(text) > MAX_NUMBER_TEXT:
        raise ExpressionError(f"{label} text is too long (more than {MAX_NUMBER_TEXT} characters)")
    return text


def _fn_int(ev: Budget, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(check_number(value))
    if isinstance(value, str):
        text = _number_text(ev, "int()", value)
        try:
            result = int(text)
        except ValueError:
            raise ExpressionError(f"int() cannot parse '{short(text)}' as an integer") from None
        return int(check_number(result))
    raise ExpressionError(f"int() needs a number or string, got {type_name(value)}")


def _fn_float(ev: Budget, value: Any) -> float:
    if isinstance(value, str):
        text = _number_text(ev, "float()", value)
        try:
            result = float(text)
        except ValueError:
            raise ExpressionError(f"float() cannot parse '{short(text)}' as a number") from None
    elif is_number(value):
        result = float(value)  # OverflowError for huge ints is turned into a message
    else:
        raise ExpressionError(f"float() needs a number or string, got {type_name(value)}")
    if not math.isfinite(result):
        raise ExpressionError("float() result is not a finite number")
    return result


def _fn_bool(ev: Budget, value: Any) -> bool:
    return bool(value)


def _fn_abs(ev: Budget, value: Any) -> int | float:
    return abs(need_number("abs()", value))


def _min_max(
    ev: Budget, label: str, pick: Callable[[list[Any]], Any], args: tuple[Any, ...]
) -> Any:
    values = list(need_list(label, args[0])) if len(args) == 1 else list(args)
    ev.charge(len(values))
    charge_comparisons(ev, values, len(values))
    if not values:
        raise ExpressionError(f"{label} of an empty list")
    try:
        return pick(values)
    except TypeError:
        raise ExpressionError(f"{label} needs values of one comparable type") from None


def _fn_min(ev: Budget, *args: Any) -> Any:
    return _min_max(ev, "min()", min, args)


def _fn_max(ev: Budget, *args: Any) -> Any:
    return _min_max(ev, "max()", max, args)


def _fn_sum(ev: Budget, values: Any) -> int | float:
    items = need_list("sum()", values)
    ev.charge(len(items))
    # Numbers only: summing strings or lists would be quadratic and is what join/+ are for.
    for item in items:
        need_number("sum()", item)
    return check_number(sum(items))  # type: ignore[no-any-return]


def _fn_round(ev: Budget, value: Any, digits: Any = None) -> int | float:
    number = need_number("round()", value)
    if digits is None:
        return check_number(round(number))  # type: ignore[no-any-return]
    if not isinstance(digits, int):
        raise ExpressionError(f"round() digits must be an integer, got {type_name(digits)}")
    if abs(digits) > MAX_EXPONENT:  # int rounding computes 10**-digits
        raise ExpressionError(f"round() digits out of range (the limit is {MAX_EXPONENT})")
    return check_number(round(number, digits))  # type: ignore[no-any-return]


def _fn_floor(ev: Budget, value: Any) -> int:
    return math.floor(need_number("floor()", value))


def _fn_ceil(ev: Budget, value: Any) -> int:
    return math.ceil(need_number("ceil()", value))


# --- lists and dicts ------------------------------------------------------------------------


def charge_comparisons(ev: Budget, items: list[Any] | tuple[Any, ...], compares: int) -> None:
    """Charge ``compares`` comparisons between ``items``, before making them.

    A comparison of strings walks their common prefix and one of lists walks their items,
    so each comparison is charged as the largest item could make it, at worst.
    """
    ev.charge(-(-compares // COMPARES_PER_STEP))
    longest = items_weight = 0
    for item in items:
        if isinstance(item, str):
            longest = max(longest, len(item))
        elif isinstance(item, list | tuple | Mapping):
            counted, chars = ev.weight(item)
            items_weight = max(items_weight, counted)
            longest = max(longest, chars)
    if longest:
        ev.charge_chars(compares * longest)
    if items_weight:
        ev.charge(compares * items_weight)


def _fn_sorted(ev: Budget, values: Any) -> list[Any]:
    items = need_list("sorted()", values)
    ev.charge_items(len(items))
    # Timsort makes at most about n * log2(n) comparisons.
    charge_comparisons(ev, items, len(items) * max(len(items).bit_length(), 1))
    try:
        return sorted(items)
    except TypeError:
        raise ExpressionError(
            "sorted() needs items of one comparable type (all numbers or all strings)"
        ) from None


def _fn_reversed(ev: Budget, values: Any) -> list[Any]:
    items = values if isinstance(values, str) else need_list("reversed()", values)
    check_items(len(items))
    ev.charge_items(len(items))
    return list(reversed(items))


def _fn_list(ev: Budget, value: Any) -> list[Any]:
    if isinstance(value, str | list | tuple | Mapping):
        check_items(len(value))
        ev.charge_items(len(value))
        return list(value)
    raise ExpressionError(f"list() needs a list, string or dict, got {type_name(value)}")


def _fn_dict(ev: Budget, value: Any = None) -> dict[Any, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        ev.charge_items(len(value))
        return dict(value)
    pairs = need_list("dict()", value)
    ev.charge_items(len(pairs))
    result: dict[Any, Any] = {}
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ExpressionError("dict() needs a dict or a list of [key, value] pairs")
        result[hashable_key(pair[0], "Dict key")] = pair[1]
    return result


def _dict_arg(ev: Budget, label: str, value: Any) -> Mapping[Any, Any]:
    mapping = need_dict(label, value)
    ev.charge_items(len(mapping))
    return mapping


def fn_keys(ev: Budget, value: Any) -> list[Any]:
    return list(_dict_arg(ev, "keys()", value).keys())


def fn_values(ev: Budget, value: Any) -> list[Any]:
    return list(_dict_arg(ev, "values()", value).values())


def fn_items(ev: Budget, value: Any) -> list[list[Any]]:
    # Pairs are lists, not tuples, so they render as the same JSON as they print.
    return [[key, item] for key, item in _dict_arg(ev, "items()", value).items()]


def fn_get(ev: Budget, obj: Any, key: Any, fallback: Any = None) -> Any:
    if obj is None:
        return fallback
    if isinstance(obj, Mapping):
        return obj.get(data_key(key, "get() key"), fallback)
    if isinstance(obj, list | tuple):
        if not isinstance(key, int):
            raise ExpressionError(f"get() on a list needs an integer index, got {type_name(key)}")
        return obj[key] if -len(obj) <= key < len(obj) else fallback
    raise ExpressionError(f"get() needs a dict or list, got {type_name(obj)}")


def _fn_range(ev: Budget, *args: Any) -> list[int]:
    for arg in args:
        if not isinstance(arg, int) or isinstance(arg, bool):
            raise ExpressionError(f"range() needs integers, got {type_name(arg)}")
    if len(args) == 3 and args[2] == 0:
        raise ExpressionError("range() step cannot be zero")
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:
        raise ExpressionError(f"Too many items (more than {MAX_COLLECTION_ITEMS})") from None
    ev.charge_items(size)  # before materialising the list
    return list(numbers)


def _fn_any(ev: Budget, values: Any) -> bool:
    items = need_list("any()", values)
    ev.charge(len(items))
    return any(items)


def _fn_all(ev: Budget, values: Any) -> bool:
    items = need_list("all()", values)
    ev.charge(len(items))
    return all(items)


def _fn_contains(ev: Budget, container: Any, item: Any) -> bool:
    return contains(ev, container, item, "contains()")


def _fn_default(ev: Budget, value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _fn_coalesce(ev: Budget, *values: Any) -> Any:
    return next((value for value in values if value is not None), None)


# --- strings --------------------------------------------------------------------------------


def case_map(ev: Budget, label: str, text: Any, how: str) -> str:
    """``lower``/``upper``/``title``/``capitalize``, within the string limit.

    Case mapping can grow text up to three times (``'İ'.lower()`` is two characters,
    ``'ΐ'.upper()`` three), so the input is refused if even its own length is over the
    limit, charged for the largest result, and the result is checked again.
    """
    source = need_str(label, text)
    check_str_len(len(source))
    grows = 1 if source.isascii() else 3
    ev.charge_chars(len(source) * (1 + grows), HEAVY_CHARS_PER_STEP)
    result: str = getattr(source, how)()  # 'how' is one of four names written in this file
    check_str_len(len(result))
    return result


def _fn_lower(ev: Budget, value: Any) -> str:
    return case_map(ev, "lower()", value, "lower")


def _fn_upper(ev: Budget, value: Any) -> str:
    return case_map(ev, "upper()", value, "upper")


def strip_text(ev: Budget, label: str, text: Any, chars: Any = None, how: str = "strip") -> str:
    """``strip``/``lstrip``/``rstrip`` (``trim()``), charged by the work they can do.

    With ``chars``, CPython checks each stripped character against all of ``chars``:
    ``O(len(text) * len(chars))`` (one call of that kind took seconds). Duplicate
    characters are dropped first; up to :data:`SMALL_CHAR_SET` distinct characters use
    the C method, charged ``len(text) * len(set)``; larger sets are matched one character
    at a time against a Python set, each character charged as it is looked at.
    """
    source = need_str(label, text)
    if chars is None:
        ev.charge_chars(len(source))
        result: str = getattr(source, how)()  # 'how' is one of three names in this file
    else:
        charset = need_str(label, chars)
        ev.charge_chars(len(charset), HEAVY_CHARS_PER_STEP)
        distinct = "".join(dict.fromkeys(charset))  # ordered: deterministic
        if len(distinct) <= SMALL_CHAR_SET:
            ev.charge_chars(len(source) * max(len(distinct), 1), HEAVY_CHARS_PER_STEP)
            result = getattr(source, how)(distinct)
        else:
            result = _strip_with_set(ev, source, frozenset(distinct), how)
    check_str_len(len(result))
    return result


SMALL_CHAR_SET = 16
"""Most distinct characters ``strip(chars)`` hands to CPython's method (see strip_text)."""
_STRIP_CHUNK = 1000
"""Characters looked at between two budget charges when stripping against a large set."""
PYTHON_CHARS_PER_STEP = 10
"""Characters one step pays for in a Python-level loop (about ten times slower than C)."""


def _strip_with_set(ev: Budget, source: str, charset: frozenset[str], how: str) -> str:
    start, end = 0, len(source)
    if how in ("strip", "lstrip"):
        while start < end:
            if (start % _STRIP_CHUNK) == 0:
                ev.charge_chars(_STRIP_CHUNK, PYTHON_CHARS_PER_STEP)
            if source[start] not in charset:
                break
            start += 1
    if how in ("strip", "rstrip"):
        looked = 0
        while end > start:
            if (looked % _STRIP_CHUNK) == 0:
                ev.charge_chars(_STRIP_CHUNK, PYTHON_CHARS_PER_STEP)
            if source[end - 1] not in charset:
                break
            end -= 1
            looked += 1
    return source[start:end]


def _fn_trim(ev: Budget, value: Any) -> str:
    return strip_text(ev, "trim()", value)


def _fn_startswith(ev: Budget, text: Any, prefix: Any) -> bool:
    if text is None:
        return False
    affix = need_str("startswith()", prefix)
    ev.charge_chars(len(affix))
    return need_str("startswith()", text).startswith(affix)


def _fn_endswith(ev: Budget, text: Any, suffix: Any) -> bool:
    if text is None:
        return False
    affix = need_str("endswith()", suffix)
    ev.charge_chars(len(affix))
    return need_str("endswith()", text).endswith(affix)


def join_text(ev: Budget, label: str, separator: Any, values: Any) -> str:
    """``join()`` and ``.join()``: stops as soon as the result would be too long."""
    sep = need_str(label, separator, "a string separator")
    items = need_list(label, values)
    ev.charge(len(items))
    parts: list[str] = []
    total = 0
    for item in items:
        # Each part is bounded by what is left of the limit, before it is converted.
        text = to_text(item, ev, max(MAX_STR_LENGTH - total, 0))
        total += len(text) + (len(sep) if parts else 0)
        check_str_len(total)
        parts.append(text)
    ev.charge_chars(total)
    return sep.join(parts)


def _fn_join(ev: Budget, separator: Any, values: Any) -> str:
    return join_text(ev, "join()", separator, values)


def split_text(ev: Budget, label: str, text: Any, sep: Any = None, maxsplit: Any = -1) -> list[str]:
    """``split()`` and ``.split()``."""
    source = need_str(label, text)
    if sep is not None:
        sep = need_str(label, sep, "a string separator")
        if not sep:
            raise ExpressionError(f"{label} separator cannot be empty")
    if not isinstance(maxsplit, int) or isinstance(maxsplit, bool):
        raise ExpressionError(f"{label} maxsplit must be an integer")
    # Capping maxsplit bounds the number of parts even on a huge string from the scope; the
    # scan and the copies are linear in the string (separator search: see search_cost).
    limit = MAX_COLLECTION_ITEMS if maxsplit < 0 else min(maxsplit, MAX_COLLECTION_ITEMS)
    ev.charge_chars(len(source) + (search_cost(len(source), len(sep)) if sep else 0))
    ev.charge(min(len(source), limit + 1))  # one step per part it may build
    parts = source.split(sep, limit)
    ev.charge_items(len(parts))
    return parts


def _fn_split(ev: Budget, text: Any, sep: Any = None) -> list[str]:
    return split_text(ev, "split()", text, sep)


def replace_text(ev: Budget, label: str, text: Any, old: Any, new: Any, count: Any = -1) -> str:
    """``replace()`` and ``.replace()``, with the result size estimated first."""
    source = need_str(label, text)
    old_text = need_str(label, old)
    new_text = need_str(label, new)
    if not isinstance(count, int) or isinstance(count, bool):
        raise ExpressionError(f"{label} count must be an integer")
    # Estimate the result size first: replace('a'*n, 'a', 'a'*n) would otherwise be n**2.
    ev.charge_chars(search_cost(len(source), len(old_text)))  # the count, then the search
    hits = source.count(old_text) if old_text else len(source) + 1
    if count >= 0:
        hits = min(hits, count)
    size = len(source) + hits * (len(new_text) - len(old_text))
    check_str_len(size)
    ev.charge_chars(search_cost(len(source), len(old_text)) + size)
    ev.charge(hits // COMPARES_PER_STEP)
    return source.replace(old_text, new_text, count)


def _fn_replace(ev: Budget, text: Any, old: Any, new: Any) -> str:
    return replace_text(ev, "replace()", text, old, new)


# --- JSON -----------------------------------------------------------------------------------


def _fn_json_encode(ev: Budget, value: Any) -> str:
    text = to_json(value, ev)
    check_str_len(len(text))
    return text


def _json_number(text: str) -> str:
    if len(text) > MAX_NUMBER_TEXT:
        raise ExpressionError(f"json_decode(): number longer than {MAX_NUMBER_TEXT} digits")
    return text


def _json_int(text: str) -> int:
    return int(check_number(int(_json_number(text))))


def _json_float(text: str) -> float:
    value = float(_json_number(text))
    if not math.isfinite(value):
        raise ExpressionError("json_decode(): number too large")
    return value


def _json_constant(name: str) -> Any:
    raise ExpressionError(f"json_decode(): {name} is not valid JSON")


def _check_json_depth(text: str) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH before the (recursive) decoder sees it."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return  # cannot be too deep; skips the character loop for ordinary documents
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ExpressionError(f"json_decode(): nested deeper than {MAX_JSON_DEPTH} levels")
        elif char in "]}":
            depth -= 1


def _fn_json_decode(ev: Budget, value: Any) -> Any:
    text = need_str("json_decode()", value)
    check_str_len(len(text))
    # Decoding calls back into Python for every number: about 10 characters a step.
    ev.charge(len(text) // 10)
    _check_json_depth(text)
    try:
        decoded = json.loads(
            text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant
        )
        items, _ = ev.weight(decoded)
        ev.charge_items(items)
        return decoded
    except json.JSONDecodeError as exc:
        raise ExpressionError(
            f"json_decode(): invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:  # belt and braces; the depth check should make this unreachable
        raise ExpressionError(
            f"json_decode(): nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None


FUNCTIONS: Table = {
    "len": (_fn_len, 1, 1),
    "str": (_fn_str, 1, 1),
    "int": (_fn_int, 1, 1),
    "float": (_fn_float, 1, 1),
    "bool": (_fn_bool, 1, 1),
    "abs": (_fn_abs, 1, 1),
    "min": (_fn_min, 1, None),
    "max": (_fn_max, 1, None),
    "sum": (_fn_sum, 1, 1),
    "round": (_fn_round, 1, 2),
    "sorted": (_fn_sorted, 1, 1),
    "reversed": (_fn_reversed, 1, 1),
    "list": (_fn_list, 1, 1),
    "dict": (_fn_dict, 0, 1),
    "keys": (fn_keys, 1, 1),
    "values": (fn_values, 1, 1),
    "items": (fn_items, 1, 1),
    "lower": (_fn_lower, 1, 1),
    "upper": (_fn_upper, 1, 1),
    "trim": (_fn_trim, 1, 1),
    "contains": (_fn_contains, 2, 2),
    "startswith": (_fn_startswith, 2, 2),
    "endswith": (_fn_endswith, 2, 2),
    "join": (_fn_join, 2, 2),
    "split": (_fn_split, 1, 2),
    "replace": (_fn_replace, 3, 3),
    "default": (_fn_default, 2, 2),
    "coalesce": (_fn_coalesce, 0, None),
    "json_encode": (_fn_json_encode, 1, 1),
    "json_decode": (_fn_json_decode, 1, 1),
    "range": (_fn_range, 1, 3),
    "any": (_fn_any, 1, 1),
    "all": (_fn_all, 1, 1),
    "floor": (_fn_floor, 1, 1),
    "ceil": (_fn_ceil, 1, 1),
    "get": (fn_get, 2, 3),
}
"""Every function an expression may call, by name."""

# The list operations live in their own module; they are ordinary whitelisted functions.
FUNCTIONS.update(LIST_FUNCTIONS)
