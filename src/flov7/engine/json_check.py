"""Measure and check a value as JSON without building the JSON.

One iterative walk answers "how many bytes would this serialise to?" and, in strict mode,
"is this plain JSON?" (string keys, finite numbers, valid Unicode, bounded depth, only
null/bool/number/string/list/dict). It never materialises the document, and it stops as
soon as the size passes the limit, so a value that shares one large reference many times
(cheap to build in memory, huge once serialised) costs at most about ``limit`` bytes of
work, not its serialised size.

Shared containers are measured once and then charged for their size at every place they
appear (what the serialiser would write), so a directed acyclic value costs one visit per
distinct container plus one per reference. Pure and deterministic: it runs in workflow code,
and the number of visits it reports is what the driver counts as work.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from json.encoder import (  # type: ignore[attr-defined]
    encode_basestring,
    encode_basestring_ascii,
)
from typing import Any

from flov7.errors import Flov7Error

MAX_JSON_NESTING = 100
"""Deepest nesting of lists and dicts any node output (and any JSON text an expression
builds) may have. Far below Python's recursion limit, so nothing downstream (Temporal's
converter, json.dumps, the API) can hit RecursionError, even after wrapping it a few times."""

_SHARE_MIN_CHARS = 64
"""Strings at least this long are remembered by identity, so a repeated large string is
encoded once."""


class JsonTooLarge(Flov7Error):
    """The value serialises to more than ``limit`` bytes (the walk stopped there)."""

    def __init__(self, limit: int, visits: int) -> None:
        super().__init__(f"more than {limit} bytes of JSON")
        self.limit = limit
        self.visits = visits


class NotPlainJson(Flov7Error):
    """The value is not plain JSON; ``path`` says where (``$.items[3].name``)."""

    def __init__(self, path: str, problem: str, visits: int) -> None:
        super().__init__(f"{problem} at {path}")
        self.path = path
        self.problem = problem
        self.visits = visits


@dataclass(frozen=True)
class JsonMeasure:
    """The result of a walk: serialised size and the number of values visited."""

    size: int
    visits: int


def _kind(value: Any) -> str:
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


def _path(where: Any) -> str:
    """``$.a[3].b`` from the linked ``(parent, key)`` pairs of the walk."""
    keys: list[Any] = []
    while where is not None:
        where, key = where
        keys.append(key)
    path = "$"
    for key in reversed(keys):
        if isinstance(key, int) and not isinstance(key, bool):
            path += f"[{key}]"
            continue
        if not isinstance(key, str):
            path += f"[{key!r}]"
            continue
        text = key
        if len(text) > 40:
            text = text[:37] + "..."
        path += f".{text}" if text.isidentifier() and text.isascii() else f"[{text!a}]"
    return path


def _has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class _Walk:
    __slots__ = ("ascii", "cache", "limit", "max_depth", "on_path", "strict", "total", "visits")

    def __init__(self, *, limit: int, strict: bool, ascii: bool, max_depth: int) -> None:
        self.limit = limit
        self.strict = strict
        self.ascii = ascii
        self.max_depth = max_depth
        self.total = 0
        self.visits = 0
        # id -> (serialised size, height below it); only for values alive during the walk.
        self.cache: dict[int, tuple[int, int]] = {}
        self.on_path: set[int] = set()

    def add(self, size: int) -> None:
        self.total += size
        if self.total > self.limit:
            raise JsonTooLarge(self.limit, self.visits)

    def fail(self, where: Any, problem: str) -> NotPlainJson:
        return NotPlainJson(_path(where), problem, self.visits)

    def string_size(self, text: str, path: Any) -> int:
        if len(text) >= _SHARE_MIN_CHARS:
            cached = self.cache.get(id(text))
            if cached is not None:
                return cached[0]
        if len(text) > self.limit:  # cannot fit whatever its escapes: skip the encoding
            raise JsonTooLarge(self.limit, self.visits)
        if self.strict and _has_lone_surrogate(text):
            raise self.fail(path, "a string with a lone surrogate (invalid Unicode)")
        size = len(encode_basestring_ascii(text) if self.ascii else encode_basestring(text))
        if len(text) >= _SHARE_MIN_CHARS:
            self.cache[id(text)] = (size, 0)
        return size

    def scalar_size(self, value: Any, path: Any) -> int:
        if value is None or value is True:
            return 4
        if value is False:
            return 5
        if type(value) is str:  # long or non-ASCII text: no isinstance calls (see run)
            return self.string_size(value, path)
        if isinstance(value, int):
            try:
                return len(int.__repr__(value))
            except ValueError:  # more digits than Python converts
                raise self.fail(path, "an integer too large to write") from None
        if isinstance(value, float):
            if not math.isfinite(value):
                if self.strict:
                    raise self.fail(path, f"a non-finite number ({value!r})")
                return len(repr(value))
            return len(float.__repr__(value))
        if isinstance(value, str):
            return self.string_size(value, path)
        if self.strict:
            raise self.fail(path, f"a value of type {type(value).__name__}, not JSON")
        return self.string_size(str(value), path)

    def key_size(self, key: Any, path: Any) -> int:
        if isinstance(key, str):
            return self.string_size(key, path)
        if self.strict:
            raise self.fail(path, f"a dict key that is {_kind(key)}, not a string")
        if isinstance(key, bool) or key is None:
            return 2 + (4 if key is None or key is True else 5)
        if isinstance(key, int | float):
            return 2 + self.scalar_size(key, path)
        raise self.fail(path, f"a dict key that is {_kind(key)}")

    def run(self, root: Any) -> JsonMeasure:
        # Frames: (value, depth, where, leaving, total at entry, deepest at entry). ``where``
        # is a linked (parent, key) pair turned into a path only when reporting a problem.
        # A leaving frame records a container's size and height for later references.
        stack: list[tuple[Any, int, Any, bool, int, int]] = [(root, 0, None, False, 0, 0)]
        deepest = 0
        while stack:
            value, depth, where, leaving, start_total, saved_deepest = stack.pop()
            if leaving:
                ident = id(value)
                self.on_path.discard(ident)
                self.cache[ident] = (self.total - start_total, deepest - depth)
                deepest = max(saved_deepest, deepest)
                continue
            self.visits += 1
            # Exact types first, isinstance only for the rest: this walk runs in workflow
            # code, where the sandbox routes every isinstance call through a Python-level
            # wrapper (a Mapping check is an ABC check besides).
            kind = type(value)
            if kind is dict:
                is_list = False
            elif kind is list or kind is tuple or isinstance(value, list | tuple):
                is_list = True
            elif isinstance(value, Mapping):
                if self.strict and not isinstance(value, dict):
                    raise self.fail(where, f"a mapping of type {kind.__name__}, not a dict")
                is_list = False
            else:
                if kind is str and len(value) < _SHARE_MIN_CHARS and value.isascii():
                    # The common case, kept cheap: short ASCII text.
                    self.add(len(encode_basestring_ascii(value)))
                else:
                    self.add(self.scalar_size(value, where))
                if depth > deepest:
                    deepest = depth
                continue
            ident = id(value)
            cached = self.cache.get(ident)
            if cached is not None:
                size, height = cached
                if depth + height > self.max_depth:
                    raise self.fail(where, f"nesting deeper than {self.max_depth} levels")
                deepest = max(deepest, depth + height)
                self.add(size)
                continue
            if ident in self.on_path:
                raise self.fail(where, "a value that contains itself")
            if depth + 1 > self.max_depth:
                raise self.fail(where, f"nesting deeper than {self.max_depth} levels")
            self.on_path.add(ident)
            stack.append((value, depth, where, True, self.total, deepest))
            deepest = depth + 1
            count = len(value)
            # Brackets and separators: "[]" plus one comma between items; dicts add a colon.
            self.add(2 + max(count - 1, 0) + (0 if is_list else count))
            child_depth = depth + 1
            # Plain scalars (the bulk of most documents) are measured here, in one sum,
            # without a trip through the stack; anything else is pushed and checked.
            inline = visits = 0
            if is_list:
                for index in range(count - 1, -1, -1):
                    item = value[index]
                    size = _plain_scalar_size(item)
                    if size < 0:
                        stack.append((item, child_depth, (where, index), False, 0, 0))
                    else:
                        inline += size
                        visits += 1
            else:
                entries = list(value.items())
                for key, item in reversed(entries):
                    if type(key) is str and len(key) < _SHARE_MIN_CHARS and key.isascii():
                        inline += len(encode_basestring_ascii(key))
                    else:
                        self.add(self.key_size(key, (where, key)))
                    size = _plain_scalar_size(item)
                    if size < 0:
                        stack.append((item, child_depth, (where, key), False, 0, 0))
                    else:
                        inline += size
                        visits += 1
            self.visits += visits
            self.add(inline)
        return JsonMeasure(self.total, self.visits)


def _plain_scalar_size(value: Any) -> int:
    """Size of a scalar that needs no check (short ASCII text, int, finite float, bool,
    null), or -1 for anything else (checked the long way)."""
    kind = type(value)
    if kind is str:
        if len(value) < _SHARE_MIN_CHARS and value.isascii():
            return len(encode_basestring_ascii(value))
        return -1
    if kind is int:
        return len(int.__repr__(value)) if value.bit_length() < 10_000 else -1
    if kind is float:
        return len(float.__repr__(value)) if math.isfinite(value) else -1
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    return -1


def measure_json(
    value: Any,
    *,
    limit: int,
    strict: bool = True,
    ascii: bool = True,
    max_depth: int = MAX_JSON_NESTING,
) -> JsonMeasure:
    """Size of ``value`` as compact JSON, checked and measured without serialising it.

    ``strict``: refuse anything that is not plain JSON (:class:`NotPlainJson`); otherwise
    measure as ``json.dumps(..., default=str)`` would write it (number-like keys become
    strings, unknown objects their ``str()``). ``ascii``: count ``\\uXXXX`` escapes as
    Temporal's converter writes them (``ensure_ascii``), else characters. Raises
    :class:`JsonTooLarge` as soon as the size passes ``limit``. Depth beyond ``max_depth``
    is refused in both modes.
    """
    return _Walk(limit=limit, strict=strict, ascii=ascii, max_depth=max_depth).run(value)
