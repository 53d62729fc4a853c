"""Size and work limits, and the checks that enforce them.

Every source, tree, string, list, integer and JSON document is size-limited, and growth
(``"a" * n``, ``2 ** n``, ``replace``...) is estimated *before* the work is done. Evaluation
also has a step budget (:class:`Budget`); there are no wall-clock timeouts because those
would break replay determinism.

Cost model (docs/expressions.md): a step is about the work of visiting one syntax node.
Functions and methods are charged, before they run, by the sizes they touch and produce:
one step per item walked, one per :data:`CHARS_PER_STEP` characters read, copied or
compared, one per :data:`HEAVY_CHARS_PER_STEP` characters case-mapped, escaped or
matched against a set of characters, and ``n * m`` for work that is ``O(n * m)``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator, Mapping
from typing import Any

from flov7.errors import ExpressionError

MAX_SOURCE_LENGTH = 4096
"""Longest accepted expression source, in characters."""
MAX_AST_NODES = 400
"""Most expression nodes (``ast.expr``) one expression may contain."""
MAX_DEPTH = 40
"""Deepest nesting of the syntax tree; keeps the recursive interpreter far from the C stack."""
MAX_STEPS = 100_000
"""Work budget per evaluation: one step per node visited plus one per collection item a
function walks (``sorted``, ``sum``, ``range``, ...). Counting work, not time, keeps replay
deterministic."""
MAX_STR_LENGTH = 100_000
"""Longest string an expression may build."""
MAX_COLLECTION_ITEMS = 10_000
"""Most items in a list or dict an expression may build (nested items count for ``*``)."""
MAX_EXPONENT = 1000
"""Largest absolute exponent for ``**`` and digits for ``round``."""
MAX_INT_BITS = 4096
"""Largest integer an expression may produce, in bits."""
MAX_NUMBER_TEXT = 1300
"""Longest text ``int()``/``float()``/``json_decode`` will parse as one number (about
``MAX_INT_BITS`` in decimal digits)."""
MAX_JSON_DEPTH = 64
"""Deepest ``[``/``{`` nesting ``json_decode`` accepts."""

CHARS_PER_STEP = 1000
"""Characters of linear, C-speed work (scanning, copying, comparing) charged as one step."""
HEAVY_CHARS_PER_STEP = 100
"""Characters of heavier per-character work (case mapping, JSON escaping, matching against
a set of characters) charged as one step."""
COMPARES_PER_STEP = 16
"""Comparisons of two small values (sorting, ``min``) charged as one step."""

MAX_NODE_STEPS = 250_000
"""Work budget shared by every expression and template of one node (see
:func:`step_meter`): a mapping with many leaves cannot multiply ``MAX_STEPS``."""

FLOAT_OVERFLOW = "Number too large (float overflow)"
"""Message for a float result that overflowed (raised in several places)."""


def check_number(value: Any) -> Any:
    """Refuse integers over ``MAX_INT_BITS`` and non-finite floats (overflow / NaN)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise ExpressionError(f"Integer too large (more than {MAX_INT_BITS} bits)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError(FLOAT_OVERFLOW)
    elif isinstance(value, complex):
        raise ExpressionError("Result is a complex number, which is not supported")
    return value


def check_str_len(length: int) -> None:
    """Refuse a string longer than ``MAX_STR_LENGTH`` (call before building it)."""
    if length > MAX_STR_LENGTH:
        raise ExpressionError(f"String too long (more than {MAX_STR_LENGTH} characters)")


def check_items(length: int) -> None:
    """Refuse a list or dict with more than ``MAX_COLLECTION_ITEMS`` items."""
    if length > MAX_COLLECTION_ITEMS:
        raise ExpressionError(f"Too many items (more than {MAX_COLLECTION_ITEMS})")


class StepMeter:
    """Steps used by several evaluations together, against one limit."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int = MAX_NODE_STEPS) -> None:
        self.limit = limit
        self.used = 0


_METER: contextvars.ContextVar[StepMeter | None] = contextvars.ContextVar(
    "flov7_expression_meter", default=None
)


@contextlib.contextmanager
def step_meter(limit: int = MAX_NODE_STEPS) -> Iterator[StepMeter]:
    """Every evaluation inside the block draws from one shared budget of ``limit`` steps.

    The driver opens one per node, so a node's work is bounded as a whole, and reads
    ``used`` afterwards to pace long runs of pure nodes (workflow code must not hog the
    workflow task: Temporal's deadlock detector fails it after two seconds).
    """
    meter = StepMeter(limit)
    token = _METER.set(meter)
    try:
        yield meter
    finally:
        _METER.reset(token)


class Budget:
    """The step budget of one evaluation (``MAX_STEPS``, and the node's meter if any).

    The evaluator is a budget; functions and methods receive it as their first argument
    and charge one step per item they walk.
    """

    __slots__ = ("limit", "meter", "start", "steps")

    def __init__(self) -> None:
        self.meter = _METER.get()
        self.start = self.meter.used if self.meter is not None else 0
        self.steps = 0
        self.limit = MAX_STEPS
        if self.meter is not None:
            self.limit = min(MAX_STEPS, self.meter.limit - self.meter.used)

    def charge(self, amount: int) -> None:
        self.steps += amount
        if self.meter is not None:
            self.meter.used = self.start + self.steps
        if self.steps > self.limit:
            if self.limit < MAX_STEPS:
                raise ExpressionError(
                    f"The node's expressions are too expensive together (more than "
                    f"{self.meter.limit if self.meter else MAX_STEPS} steps); simplify them"
                )
            raise ExpressionError(
                f"Expression is too expensive (more than {MAX_STEPS} steps); simplify it"
            )

    def charge_chars(self, count: int, per_step: int = CHARS_PER_STEP) -> None:
        """Account for ``count`` characters of work (rounded up), before doing it."""
        self.charge(-(-count // per_step))

    def charge_items(self, count: int) -> None:
        """Account for building (or walking into a new) collection of ``count`` items."""
        check_items(count)
        self.charge(count)

    def weight(self, value: Any) -> tuple[int, int]:
        """(nested items, characters) in a value, counted iteratively and capped.

        Repetition (``[x] * n``) shares references, so the *rendered* size is n times the
        nested size of x; this is what must be bounded, not just the outer length.
        """
        items = chars = 0
        stack = [value]
        while stack:
            current = stack.pop()
            if isinstance(current, str):
                chars += len(current)
            elif isinstance(current, int) and not isinstance(current, bool):
                chars += current.bit_length() // 3
            elif isinstance(current, list | tuple | Mapping):
                items += len(current)
                if items > MAX_COLLECTION_ITEMS:
                    break
                stack.extend(current.values() if isinstance(current, Mapping) else current)
            if chars > MAX_STR_LENGTH:
                break
        self.charge(items)
        return items, chars
