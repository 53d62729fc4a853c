"""The Temporal engine, under the integration guide's module names.

:mod:`~flov7.temporal.workflows` (``WorkflowExecution``, ``WorkflowValidation``),
:mod:`~flov7.temporal.activities` (one activity per I/O node type),
:mod:`~flov7.temporal.worker`, :mod:`~flov7.temporal.client`,
:mod:`~flov7.temporal.config`, the embedded dev server
(:mod:`~flov7.temporal.devserver`, :mod:`~flov7.temporal.environment`), and the run
service on Temporal: :mod:`~flov7.temporal.backend` with
:mod:`~flov7.temporal.history` (event history to timeline). Never imports
:mod:`flov7.local`.
"""
