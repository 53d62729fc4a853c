"""The whitelisted string, dict and list methods (``"x".upper()``, ``d.get("k")``...).

A method call is looked up by the receiver's type in one of the tables below; nothing
else is callable. The receiver is passed as the first argument after the budget. The
``getattr`` calls here are the only ones in the package: they run on a ``str`` receiver
with a method name written in this file, never with a name taken from an expression.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flov7.engine.expressions.functions import (
    Table,
    case_map,
    fn_get,
    fn_items,
    fn_keys,
    fn_values,
    join_text,
    replace_text,
    split_text,
    strip_text,
)
from flov7.engine.expressions.limits import Budget
from flov7.engine.expressions.values import contains, need_str, search_cost
from flov7.errors import ExpressionError


def _str_method(name: str) -> Callable[..., Any]:
    """A case-mapping method: charged and length-checked like the functions (it can grow)."""

    def method(ev: Budget, text: str) -> str:
        return case_map(ev, f".{name}()", text, name)

    return method


def _strip_method(name: str) -> Callable[..., Any]:
    def method(ev: Budget, text: str, chars: Any = None) -> str:
        return strip_text(ev, f".{name}()", text, chars, name)

    return method


def _m_affix(name: str) -> Callable[..., Any]:
    def method(ev: Budget, text: str, affix: Any) -> bool:
        label = f".{name}()"
        if isinstance(affix, list | tuple):
            affixes = tuple(need_str(label, item) for item in affix)
            ev.charge(len(affixes))
            ev.charge_chars(sum(len(item) for item in affixes))
            result: bool = getattr(text, name)(affixes)
            return result
        checked = need_str(label, affix)
        ev.charge_chars(len(checked))
        result = getattr(text, name)(checked)
        return result

    return method


def _m_replace(ev: Budget, text: str, old: Any, new: Any, count: Any = -1) -> str:
    return replace_text(ev, ".replace()", text, old, new, count)


def _m_split(ev: Budget, text: str, sep: Any = None, maxsplit: Any = -1) -> list[str]:
    return split_text(ev, ".split()", text, sep, maxsplit)


def _m_join(ev: Budget, sep: str, values: Any) -> str:
    return join_text(ev, ".join()", sep, values)


def _m_count(ev: Budget, text: str, sub: Any) -> int:
    needle = need_str(".count()", sub)
    ev.charge_chars(search_cost(len(text), len(needle)))
    return text.count(needle)


def _m_find(ev: Budget, text: str, sub: Any) -> int:
    needle = need_str(".find()", sub)
    ev.charge_chars(search_cost(len(text), len(needle)))
    return text.find(needle)


def _m_list_count(ev: Budget, items: list[Any] | tuple[Any, ...], value: Any) -> int:
    contains(ev, items, value, ".count()")  # charges one comparison per item
    return items.count(value)


def _m_list_index(ev: Budget, items: list[Any] | tuple[Any, ...], value: Any) -> int:
    contains(ev, items, value, ".index()")
    try:
        return items.index(value)
    except ValueError:
        raise ExpressionError(".index(): value is not in the list") from None


_STR_METHODS: Table = {
    "lower": (_str_method("lower"), 0, 0),
    "upper": (_str_method("upper"), 0, 0),
    "title": (_str_method("title"), 0, 0),
    "capitalize": (_str_method("capitalize"), 0, 0),
    "strip": (_strip_method("strip"), 0, 1),
    "lstrip": (_strip_method("lstrip"), 0, 1),
    "rstrip": (_strip_method("rstrip"), 0, 1),
    "startswith": (_m_affix("startswith"), 1, 1),
    "endswith": (_m_affix("endswith"), 1, 1),
    "replace": (_m_replace, 2, 3),
    "split": (_m_split, 0, 2),
    "join": (_m_join, 1, 1),
    "count": (_m_count, 1, 1),
    "find": (_m_find, 1, 1),
}

_DICT_METHODS: Table = {
    "get": (fn_get, 1, 2),
    "keys": (fn_keys, 0, 0),
    "values": (fn_values, 0, 0),
    "items": (fn_items, 0, 0),
}

_LIST_METHODS: Table = {
    "count": (_m_list_count, 1, 1),
    "index": (_m_list_index, 1, 1),
}

ALL_METHODS = frozenset(_STR_METHODS) | frozenset(_DICT_METHODS) | frozenset(_LIST_METHODS)
"""Every method name of any type; other names are refused at compile time."""
_NO_METHODS: Table = {}


def methods_for(receiver: Any) -> Table:
    """The method table for the receiver's type (empty for numbers, bools and null)."""
    if isinstance(receiver, str):
        return _STR_METHODS
    if isinstance(receiver, Mapping):
        return _DICT_METHODS
    if isinstance(receiver, list | tuple):
        return _LIST_METHODS
    return _NO_METHODS
