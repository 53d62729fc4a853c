"""Flov7's REST API (FastAPI): ``create_app`` in :mod:`flov7.api.app`, ``flov7 serve`` in
:mod:`flov7.api.server`, the execution backend seam in :mod:`flov7.api.backend`."""
