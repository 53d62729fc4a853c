"""Text that every UTF-8 encoder accepts: lone surrogates replaced, consistently.

Python strings (and JSON's ``\\uXXXX`` escapes) can hold a lone surrogate such as
``"\\ud800"``; UTF-8 cannot, so a strict encoder downstream (an HTTP response, SQLite,
PostgreSQL) raises on it. Flov7 replaces each lone surrogate with U+FFFD, the Unicode
replacement character, at the edges where text leaves Python: API requests and
responses (:mod:`flov7.api.text_safety`) and the store's JSON columns. Node outputs are
refused instead (:mod:`flov7.engine.json_check`): a node cannot hand one to the next.

No dependency on the rest of Flov7, so every layer may use it.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REPLACEMENT", "has_lone_surrogate", "replace_lone_surrogates", "scrub_value"]

REPLACEMENT = "\ufffd"
"""What a lone surrogate becomes."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """True if ``text`` cannot be encoded as UTF-8 (it holds a lone surrogate)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def replace_lone_surrogates(text: str) -> str:
    """``text`` with every lone surrogate replaced by :data:`REPLACEMENT`.

    A Python string holds astral characters as one code point each, so any surrogate
    code point left in it is a lone one.
    """
    if not has_lone_surrogate(text):
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def scrub_value(value: Any) -> Any:
    """``value`` with lone surrogates replaced in every string, keys included.

    Returns ``value`` itself when nothing needed replacing; otherwise a copy of the
    containers on the way to each replaced string. Iterative (no recursion limit).
    """
    if isinstance(value, str):
        return replace_lone_surrogates(value)
    if not isinstance(value, dict | list | tuple):
        return value
    return _scrub_containers(value)


def _scrub_containers(root: Any) -> Any:
    # Post-order over containers: rebuild a container only if a child changed.
    results: dict[int, Any] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        value, leaving = stack.pop()
        if not leaving:
            if id(value) in results:
                continue
            stack.append((value, True))
            children = value.values() if isinstance(value, dict) else value
            for child in children:
                if isinstance(child, dict | list | tuple) and id(child) not in results:
                    stack.append((child, False))
            continue
        results[id(value)] = _rebuilt(value, results)
    return results[id(root)]


def _rebuilt(value: Any, results: dict[int, Any]) -> Any:
    def fix(item: Any) -> Any:
        if isinstance(item, str):
            return replace_lone_surrogates(item)
        if isinstance(item, dict | list | tuple):
            return results[id(item)]
        return item

    if isinstance(value, dict):
        pairs = [(fix(key), fix(item)) for key, item in value.items()]
        changed = any(
            new_key is not key or new_item is not item
            for (new_key, new_item), (key, item) in zip(pairs, value.items(), strict=True)
        )
        return dict(pairs) if changed else value
    items = [fix(item) for item in value]
    if all(new is old for new, old in zip(items, value, strict=True)):
        return value
    return items if isinstance(value, list) else tuple(items)
