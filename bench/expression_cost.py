"""Hostile expressions: steps charged against CPU time spent, per expression.

Reproduce with::

    .venv/bin/python bench/expression_cost.py

Each expression is evaluated against a scope holding large upstream data (what an
``api_call`` may hand over), inside a node budget (``step_meter``). For each it prints the
steps charged, whether the budget refused it, the CPU time, and microseconds per charged
step (run it against an older checkout's ``src`` with ``PYTHONPATH`` to compare). The
cost model holds when the worst microseconds-per-step figure stays small: then
``MAX_STEPS_PER_CHECKPOINT`` steps of pure work cannot hold a Temporal workflow task near
its 2-second deadlock limit, whatever the expressions do.
"""

from __future__ import annotations

import time
from typing import Any

from flov7.engine.expressions import MAX_NODE_STEPS, evaluate, step_meter
from flov7.errors import ExpressionError

SCOPE: dict[str, Any] = {
    "inputs": {
        "a100k": "a" * 100_000,
        "a1m": "a" * 1_000_000,
        "dotted": "İ" * 100_000,
        "distinct": "".join(chr(0x100 + i) for i in range(20_000)),
        "in_set": "".join(chr(0x100 + (i % 20_000)) for i in range(100_000)),
        "needle": "a" * 98 + "b",
        "words": ["w" * 1000] * 10_000,
        "nums": list(range(10_000)),
        "big_list": [["x" * 1000] * 1000] * 10,
        "spaces": " " * 100_000,
        "wide": chr(0x10000) * 100_000,
        "wide_chars": "".join(chr(0x10001 + i) for i in range(30_000)) + chr(0x10000),
    },
    "input": {},
    "execution": {},
    "nodes": {},
}

HOSTILE = [
    "len(inputs.wide.strip(inputs.wide_chars))",
    "len(inputs.wide.strip(inputs.wide_chars[-16:]))",
    "inputs.a100k.strip('b' * 4000 + 'a')",
    "inputs.in_set.strip(inputs.distinct)",
    "inputs.in_set.lstrip(inputs.distinct[:16])",
    "inputs.a1m.rstrip('bcdefghijklmnopa')",
    "lower(inputs.dotted)",
    "inputs.dotted.lower()",
    "inputs.a100k.upper()",
    "inputs.a1m.count(inputs.needle)",
    "inputs.a100k[:29999].count(inputs.needle)",
    "inputs.a100k.find('a' * 2000 + 'b')",
    "inputs.needle in inputs.a1m",
    "replace(inputs.a100k, 'a', 'bb')",
    "inputs.a1m.split('a')",
    "split(inputs.spaces + 'x')",
    "join(',', inputs.words)",
    "str(inputs.big_list)",
    "json_encode(inputs.big_list)",
    "sorted(inputs.words)",
    "sorted(inputs.nums)",
    "max(inputs.words)",
    "inputs.words == inputs.words[:]",
    "inputs.words.count('w' * 1000)",
    "inputs.a1m[::-1] == inputs.a1m",
    "trim(inputs.spaces)",
    "'x' * 100000 + 'y' * 0",
    "len(json_decode('[' + '1,' * 30000 + '1]'))",
]


def main() -> None:
    worst = slowest = 0.0
    print(f"{'expression':50} {'steps':>9} {'outcome':>9} {'cpu ms':>8} {'us/step':>8}")
    for source in HOSTILE:
        outcome = "ok"
        start = time.process_time()
        with step_meter(MAX_NODE_STEPS) as meter:
            try:
                evaluate(source, SCOPE)
            except ExpressionError as exc:
                outcome = "refused"
                detail = str(exc)
        elapsed = time.process_time() - start
        per_step = elapsed * 1e6 / max(meter.used, 1)
        slowest = max(slowest, elapsed)
        if meter.used >= 1000:  # below that, compiling the expression dominates
            worst = max(worst, per_step)
        print(
            f"{source[:50]:50} {meter.used:>9} {outcome:>9} {elapsed * 1000:>8.1f} {per_step:>8.2f}"
        )
        if outcome == "refused":
            print(f"{'':50}   -> {detail[:70]}")
    print(f"worst microseconds per charged step (rows of 1000+ steps): {worst:.2f}")
    print(f"slowest expression: {slowest * 1000:.1f} ms of CPU")


if __name__ == "__main__":
    main()
