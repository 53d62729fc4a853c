"""The run service: starting, watching and stopping runs, whatever the engine.

This package is the contract between the callers (API, CLI, triggers, UI) and the
engines (:mod:`flov7.temporal`, :mod:`flov7.local`): the
:class:`~flov7.runs.contract.ExecutionBackend` protocol with its refs and filters
(:mod:`~flov7.runs.contract`), one set of typed run views both engines build
(:mod:`~flov7.runs.views`), the engine-free timeline assembler
(:mod:`~flov7.runs.timeline`), opaque page tokens (:mod:`~flov7.runs.pages`) and the
start / follow / stop routine everyone uses (:mod:`~flov7.runs.service`). It imports
no engine; :mod:`flov7.backends` picks one.
"""
