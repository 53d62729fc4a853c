"""List operations: the item transformations n8n users reach for, as bounded functions.

The language has no lambdas or comprehensions (no user-defined code, no unbounded
loops), so each operation names the field it works on with a *path*: a string of
dict keys joined by dots (``"customer.email"``), or ``""`` / omitted for the item
itself. A path is read the way ``a.b`` reads data: a missing key gives ``null``, and
keys starting with ``__`` are refused.

Every function charges the evaluation's budget one step per element it touches (times
the path's length), and refuses to build more than ``MAX_COLLECTION_ITEMS`` items
(:mod:`.limits`), so a list operation costs what a hand-written loop over the same
data would, and never more than the budget allows.

Results are JSON: ``group_by`` and ``count_by`` key their dicts by the text form of
each key (Temporal's JSON converter sorts keys, and keys of mixed types would crash it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flov7.engine.expressions.limits import (
    MAX_COLLECTION_ITEMS,
    Budget,
    check_items,
    check_number,
)
from flov7.engine.expressions.names import refuse_dunder
from flov7.engine.expressions.values import (
    need_list,
    need_str,
    short,
    to_json,
    to_text,
    type_name,
)
from flov7.errors import ExpressionError

MAX_RANGE = MAX_COLLECTION_ITEMS
"""``range()`` builds at most this many numbers (the collection cap)."""

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda left, right: bool(left == right),
    "!=": lambda left, right: bool(left != right),
    "<": lambda left, right: bool(left < right),
    "<=": lambda left, right: bool(left <= right),
    ">": lambda left, right: bool(left > right),
    ">=": lambda left, right: bool(left >= right),
    "in": lambda left, right: right is not None and left in right,
    "not in": lambda left, right: right is None or left not in right,
    "contains": lambda left, right: left is not None and right in left,
}
"""Comparisons ``filter(list, path, op, value)`` accepts (item value on the left)."""


def _path(label: str, path: Any) -> tuple[str, ...]:
    if path is None:
        return ()
    text = need_str(label, path, "a path string such as 'customer.email'")
    if not text:
        return ()
    keys = tuple(text.split("."))
    for key in keys:
        if not key:
            raise ExpressionError(f"{label}: empty key in path '{short(text)}'")
        refuse_dunder(key)
    return keys


def _read(item: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(item, Mapping):
            return None
        item = item.get(key)
    return item


def _items(ev: Budget, label: str, values: Any, keys: tuple[str, ...] = ()) -> list[Any]:
    """The list argument, charged one step per element (per key of the path)."""
    if values is None:
        return []  # a missing list is empty, as ``inputs.missing`` reads as null
    items = list(need_list(label, values))
    ev.charge(len(items) * max(1, len(keys)))
    return items


def _key_text(label: str, value: Any) -> str:
    if isinstance(value, list | tuple | Mapping):
        raise ExpressionError(f"{label}: a key must be a string or number, got {type_name(value)}")
    return to_text(value) if value is not None else "null"


def _identity(value: Any) -> Any:
    # For dedup: lists and dicts compare by their JSON text (they are not hashable).
    if isinstance(value, list | tuple | Mapping):
        return ("json", to_json(value))
    return ("value", type_name(value), value)


def fn_pluck(ev: Budget, values: Any, path: Any) -> list[Any]:
    """``pluck(orders, "customer.id")``: the value at ``path`` of every item."""
    keys = _path("pluck()", path)
    items = _items(ev, "pluck()", values, keys)
    check_items(len(items))
    return [_read(item, keys) for item in items]


def fn_where(ev: Budget, values: Any, path: Any, expected: Any) -> list[Any]:
    """``where(orders, "status", "open")``: the items whose ``path`` equals ``expected``."""
    keys = _path("where()", path)
    items = _items(ev, "where()", values, keys)
    return [item for item in items if _read(item, keys) == expected]


def fn_filter(ev: Budget, values: Any, path: Any = None, op: Any = None, value: Any = None) -> Any:
    """``filter(list, path)``: items whose value at ``path`` is truthy; ``filter(list, path,
    op, value)`` compares it with ``value`` (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``,
    ``in``, ``not in``, ``contains``)."""
    keys = _path("filter()", path)
    items = _items(ev, "filter()", values, keys)
    if op is None:
        return [item for item in items if _read(item, keys)]
    name = need_str("filter()", op, "an operator string such as '>='")
    compare = _OPERATORS.get(name)
    if compare is None:
        raise ExpressionError(
            f"filter(): unknown operator '{short(name)}'; use one of {', '.join(_OPERATORS)}"
        )
    if name in ("in", "not in") and isinstance(value, list | tuple):
        ev.charge(len(items) * len(value))  # a membership test walks the list
    result: list[Any] = []
    for item in items:
        current = _read(item, keys)
        if name == "contains" and isinstance(current, list | tuple):
            ev.charge(len(current))
        try:
            if compare(current, value):
                result.append(item)
        except TypeError:
            continue  # values of another type (or null) never match an ordering
    return result


def fn_count(ev: Budget, values: Any, path: Any = None, expected: Any = None) -> int:
    """``count(list)``: its length; ``count(list, path)``: items with a truthy ``path``;
    ``count(list, path, value)``: items whose ``path`` equals ``value``."""
    if path is None:
        return len(_items(ev, "count()", values))
    keys = _path("count()", path)
    items = _items(ev, "count()", values, keys)
    if expected is None:
        return sum(1 for item in items if _read(item, keys))
    return sum(1 for item in items if _read(item, keys) == expected)


def fn_sort_by(ev: Budget, values: Any, path: Any = None, order: Any = "asc") -> list[Any]:
    """``sort_by(orders, "total", "desc")``: items ordered by the value at ``path``; a
    stable sort, with items whose value is ``null`` last."""
    keys = _path("sort_by()", path)
    items = _items(ev, "sort_by()", values, keys)
    if order not in ("asc", "desc"):
        raise ExpressionError("sort_by() order must be 'asc' or 'desc'")
    check_items(len(items))
    ev.charge(len(items))  # the sort itself: about one more step per item
    present = [item for item in items if _read(item, keys) is not None]
    missing = [item for item in items if _read(item, keys) is None]
    try:
        ordered = sorted(present, key=lambda item: _read(item, keys), reverse=order == "desc")
    except TypeError:
        raise ExpressionError(
            "sort_by() needs values of one comparable type (all numbers or all strings)"
        ) from None
    return ordered + missing


def fn_group_by(ev: Budget, values: Any, path: Any) -> dict[str, list[Any]]:
    """``group_by(orders, "country")``: ``{country: [orders...]}``, keys as text, groups in
    order of first appearance."""
    keys = _path("group_by()", path)
    items = _items(ev, "group_by()", values, keys)
    check_items(len(items))
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(_key_text("group_by()", _read(item, keys)), []).append(item)
    return groups


def fn_count_by(ev: Budget, values: Any, path: Any) -> dict[str, int]:
    """``count_by(orders, "status")``: ``{"open": 3, "closed": 1}``, keys as text."""
    keys = _path("count_by()", path)
    items = _items(ev, "count_by()", values, keys)
    counts: dict[str, int] = {}
    for item in items:
        key = _key_text("count_by()", _read(item, keys))
        counts[key] = counts.get(key, 0) + 1
    check_items(len(counts))
    return counts


def fn_key_by(ev: Budget, values: Any, path: Any) -> dict[str, Any]:
    """``key_by(users, "id")``: ``{id: user}``, keys as text; a later item wins."""
    keys = _path("key_by()", path)
    items = _items(ev, "key_by()", values, keys)
    check_items(len(items))
    return {_key_text("key_by()", _read(item, keys)): item for item in items}


def fn_unique(ev: Budget, values: Any, path: Any = None) -> list[Any]:
    """``unique(tags)``: first occurrences, in order; ``unique(orders, "customer.id")``:
    the first item for each value at ``path``."""
    keys = _path("unique()", path)
    items = _items(ev, "unique()", values, keys)
    seen: set[Any] = set()  # only membership tests: the order comes from the list
    result: list[Any] = []
    for item in items:
        value = _read(item, keys)
        if isinstance(value, list | tuple | Mapping):
            ev.charge(len(value))
        identity = _identity(value)
        if identity not in seen:
            seen.add(identity)
            result.append(item)
    return result


def fn_flatten(ev: Budget, values: Any) -> list[Any]:
    """``flatten([[1, 2], [3], 4])``: ``[1, 2, 3, 4]`` (one level)."""
    items = _items(ev, "flatten()", values)
    total = sum(len(item) if isinstance(item, list | tuple) else 1 for item in items)
    ev.charge_items(total)
    result: list[Any] = []
    for item in items:
        if isinstance(item, list | tuple):
            result.extend(item)
        else:
            result.append(item)
    return result


def fn_chunk(ev: Budget, values: Any, size: Any) -> list[list[Any]]:
    """``chunk(ids, 100)``: the list cut into lists of ``size`` (the last may be shorter)."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ExpressionError("chunk() size must be a positive integer")
    items = _items(ev, "chunk()", values)
    check_items(len(items))
    return [items[start : start + size] for start in range(0, len(items), size)]


def fn_zip(ev: Budget, *lists: Any) -> list[list[Any]]:
    """``zip(names, emails)``: ``[[name, email], ...]``, as long as the shortest list."""
    columns = [_items(ev, "zip()", values) for values in lists]
    length = min(len(column) for column in columns)
    check_items(length * len(columns))
    return [[column[index] for column in columns] for index in range(length)]


def fn_sum_by(ev: Budget, values: Any, path: Any) -> int | float:
    """``sum_by(items, "price")``: the sum of the numbers at ``path`` (``null`` counts 0)."""
    keys = _path("sum_by()", path)
    total: int | float = 0
    for item in _items(ev, "sum_by()", values, keys):
        value = _read(item, keys)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExpressionError(f"sum_by() needs numbers at '{path}', got {type_name(value)}")
        total += value
    return check_number(total)  # type: ignore[no-any-return]


LIST_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "pluck": (fn_pluck, 2, 2),
    "map": (fn_pluck, 2, 2),
    "where": (fn_where, 3, 3),
    "filter": (fn_filter, 1, 4),
    "count": (fn_count, 1, 3),
    "sort_by": (fn_sort_by, 1, 3),
    "group_by": (fn_group_by, 2, 2),
    "count_by": (fn_count_by, 2, 2),
    "key_by": (fn_key_by, 2, 2),
    "unique": (fn_unique, 1, 2),
    "flatten": (fn_flatten, 1, 1),
    "chunk": (fn_chunk, 2, 2),
    "zip": (fn_zip, 1, None),
    "sum_by": (fn_sum_by, 2, 2),
}
"""The list operations, by name (merged into :data:`.functions.FUNCTIONS`). ``map`` is
``pluck`` under the name n8n users look for."""
