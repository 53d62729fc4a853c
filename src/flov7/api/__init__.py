"""Flov7's REST API (FastAPI), the top layer over the run service.

``create_app`` in :mod:`flov7.api.app` builds the app (routes per resource under
:mod:`flov7.api.routes`, response schemas in :mod:`flov7.api.schemas` that reuse the run
service's typed views); ``flov7 serve`` is :mod:`flov7.api.server`. The routes start and
watch runs only through :class:`flov7.runs.service.RunService` and the
:class:`flov7.runs.contract.ExecutionBackend` that :mod:`flov7.backends` picked: no route
knows which engine runs the workflows.
"""
