"""The web UI: a page at ``/`` and its packaged assets under ``/ui/static``.

The UI is a no-build single-page app (plain ES modules, CSS and SVG; see docs/ui.md)
that reads the same ``/api/v1`` routes as every other client, so this module only
serves files from the package: nothing is fetched from the network, and the page's
Content-Security-Policy says so to the browser as well.
"""

from __future__ import annotations

from flov7.ui.app import STATIC_DIR, mount_ui

__all__ = ["STATIC_DIR", "mount_ui"]
