"""Node types: each self-describing (config model, description, example, how it runs).

:mod:`~flov7.nodes.base` is the protocol, :mod:`~flov7.nodes.registry` the explicit
manifest of built-in types, one module per type (``api_call``, ``condition``,
``transform``, ``delay``, ``database``, ``webhook``, ``ai_agent``), and the helpers they
share without importing one another: :mod:`~flov7.nodes.http` (the HTTP toolkit),
:mod:`~flov7.nodes.llm`, :mod:`~flov7.nodes.credentials`, :mod:`~flov7.nodes.settings`
(``settings.nodes`` of the settings tree) and :mod:`~flov7.nodes.resources` (what a worker
shares between nodes). Nothing here imports a runtime (``temporal``, ``local``, ``api``);
importing this package has no side effects.
"""
