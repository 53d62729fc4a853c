"""A small, safe, Python-like expression language and ``{{ }}`` templates.

Workflow documents carry user-written expressions such as ``inputs.status_code == 200`` or
``"big" if inputs.total > 100 else "small"`` (``condition`` and ``transform`` fields), and
``{{ expr }}`` templates inside other strings (``"https://api/{{ inputs.id }}"``). User
documentation: ``docs/expressions.md``.

The language, in short:

* **Names:** the scope the engine passes (``inputs``, ``input``, ``nodes``, ``execution``),
  plus ``true``/``false``/``null`` next to ``True``/``False``/``None``.
* **Literals:** numbers, strings, lists, tuples and dicts (no sets, bytes or f-strings).
* **Operators:** ``+ - * / // % **``, comparisons (chained), ``in``/``not in``,
  ``is None``/``is not None``, ``and``/``or``/``not``, ``x if cond else y``.
* **Access:** ``a.b`` and ``a["b"]`` are the same dict-key lookup, ``a[0]`` and ``a[1:3]``
  index and slice; anything missing (or read from a missing value) is ``None``.
* **Calls:** only whitelisted functions (:mod:`.functions`) and str/dict/list methods
  (:mod:`.methods`), positional arguments only.

It runs inside Temporal workflow code, so it is built around three constraints:

* **Safe.** Nothing is handed to ``eval``/``exec``/``compile``: the source is parsed, every
  node is checked against a whitelist (:mod:`.parser`) and a small interpreter walks the
  tree (:mod:`.evaluator`). There is no attribute access, so no path leads to Python
  objects; keys starting with ``__`` are refused anyway, while ``_id``-style data keys are
  readable (:mod:`.names`).
* **Bounded.** Sources, trees, strings, lists, integers and JSON documents are size-limited,
  growth is estimated before the work is done, and each evaluation has a step budget
  (:mod:`.limits`); no wall-clock timeouts, which would break replay determinism.
* **Deterministic.** No time, randomness, I/O or hash-ordered iteration (set literals are
  refused because string hashing is randomised per process). Only the stdlib is used, and
  importing the package has no side effects.

Modules: :mod:`.limits` (constants, size checks, step budget), :mod:`.values` (type names,
text/JSON forms, argument checks), :mod:`.names` (name and key rules, lookups),
:mod:`.functions`, :mod:`.methods`, :mod:`.evaluator`, :mod:`.parser` (compile and
evaluate) and :mod:`.templates` (``{{ }}``).
"""

from __future__ import annotations

from flov7.engine.expressions.limits import (
    MAX_AST_NODES,
    MAX_COLLECTION_ITEMS,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_INT_BITS,
    MAX_JSON_DEPTH,
    MAX_NODE_STEPS,
    MAX_NUMBER_TEXT,
    MAX_SOURCE_LENGTH,
    MAX_STEPS,
    MAX_STR_LENGTH,
    StepMeter,
    step_meter,
)
from flov7.engine.expressions.parser import (
    CompiledExpression,
    check_expression,
    compile_expression,
    evaluate,
)
from flov7.engine.expressions.templates import (
    has_template,
    render_template,
    render_value,
    template_errors,
    template_sources,
)

__all__ = [
    "MAX_AST_NODES",
    "MAX_COLLECTION_ITEMS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_INT_BITS",
    "MAX_JSON_DEPTH",
    "MAX_NODE_STEPS",
    "MAX_NUMBER_TEXT",
    "MAX_SOURCE_LENGTH",
    "MAX_STEPS",
    "MAX_STR_LENGTH",
    "CompiledExpression",
    "StepMeter",
    "check_expression",
    "compile_expression",
    "evaluate",
    "has_template",
    "render_template",
    "render_value",
    "step_meter",
    "template_errors",
    "template_sources",
]
