"""The local engine (``ENABLE_TEMPORAL_FEATURES=false``): runs in this process.

:mod:`~flov7.local.runtime` drives the shared interpreter with
:mod:`~flov7.local.runner` (retries and timeouts mirroring Temporal's);
:mod:`~flov7.local.backend` implements the run-service contract with run records in the
store; :mod:`~flov7.local.views` and :mod:`~flov7.local.timeline` build the same typed
views and timelines as Temporal. Imports neither :mod:`flov7.api` nor
:mod:`flov7.temporal`: durability is what it gives up, nothing else.
"""
