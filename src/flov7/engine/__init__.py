"""The engine: one deterministic interpreter and driver shared by both runtimes.

:mod:`~flov7.engine.graph` (parents, children, cycles), :mod:`~flov7.engine.validate`
(one report of every problem), :mod:`~flov7.engine.interpreter` (the run's pure state
machine), :mod:`~flov7.engine.driver` (the async loop that runs it with a runtime's
``NodeRunner``), :mod:`~flov7.engine.payloads` (Temporal's size limits as node failures),
and the expression language in :mod:`~flov7.engine.expressions`. It runs inside
Temporal workflow code, so it is deterministic and imports no runtime.
"""
