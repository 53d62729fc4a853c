"""Flov7: workflow automation on Temporal.

A workflow is a JSON graph of typed nodes joined by edges (see :mod:`flov7.spec`).
It is validated by :mod:`flov7.engine.validate`, scheduled by the deterministic
:mod:`flov7.engine.interpreter`, and run by a runtime: Temporal (:mod:`flov7.temporal`)
or the in-process local runtime (:mod:`flov7.local`).
"""

__version__ = "0.1.0"
