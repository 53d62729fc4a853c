"""Which names and keys an expression can reach, and how data is looked up.

There is no attribute access in the language. ``a.b`` is exactly ``a["b"]``: both end in
:func:`lookup_key`, which does ``obj[key]`` on a ``Mapping`` and nothing else. The package
never calls ``getattr`` with a name from an expression; the only ``getattr`` calls are in
:mod:`.methods`, on strings, with method names fixed when the module is imported. Reading a
field of anything that is not a dict is an error (see ``Evaluator.eval_attribute``).

So a data key cannot reach Python internals, and the key rules are:

* keys starting with ``__`` (``__class__``, ``__globals__``...) are refused everywhere, in
  the source (``inputs.__class__``, ``inputs["__class__"]``) and at run time
  (``inputs["_" + "_class__"]``, ``get(inputs, "__class__")``). This is defence in depth:
  it keeps working even if someone later adds real attribute access by mistake;
* keys starting with a single ``_`` (``_id``, ``_links``: MongoDB, HAL) are ordinary data.

Names that are *not* data keys keep the stricter rule and refuse every leading ``_``: bare
names (looked up in the scope the engine builds), function names and method names (both
whitelists, so there is nothing to reach; the rule only gives a clearer message).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flov7.engine.expressions.values import hashable_key, short
from flov7.errors import ExpressionError

NAME_ALIASES: dict[str, Any] = {"true": True, "false": False, "null": None}
"""JSON spellings accepted next to Python's ``True``/``False``/``None``."""


def refuse_dunder(key: str) -> None:
    """Refuse a data key starting with ``__``."""
    if key.startswith("__"):
        raise ExpressionError(
            f"Invalid name '{short(key)}': names starting with '__' are not allowed"
        )


def refuse_private(name: str) -> None:
    """Refuse a scope, function or method name starting with ``_`` (one or two)."""
    if name.startswith("_"):
        raise ExpressionError(
            f"Invalid name '{short(name)}': names starting with '_' are not allowed"
        )


def data_key(key: Any, what: str) -> Any:
    """Check a key used to read a dict: no ``__`` prefix, and hashable."""
    if isinstance(key, str):
        refuse_dunder(key)
    return hashable_key(key, what)


def lookup_key(obj: Mapping[Any, Any], key: Any) -> Any:
    """Dict lookup: missing keys give None (lenient, like JS optional chaining)."""
    key = data_key(key, "Dict key")
    try:
        return obj[key]
    except KeyError:
        return None
