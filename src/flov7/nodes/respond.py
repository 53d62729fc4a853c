"""``respond``: the answer a synchronous inbound hook gives its caller.

A run started by a ``sync`` hook (docs/triggers.md) answers the HTTP request that
started it with the first ``respond`` node it completes: its ``status_code``, ``headers``
and ``body`` (templates allowed in each). Evaluated inside workflow code like a
``transform``; in runs not started by a sync hook it is just a node whose output is
``{"status_code", "headers", "body"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from flov7.nodes.base import NodeConfig, NodeKind, NodeType


class RespondConfig(NodeConfig):
    """Config of a ``respond`` node."""

    status_code: int = Field(default=200, ge=200, le=599, description="HTTP status.")
    headers: dict[str, str] = Field(default_factory=dict, description="Response headers.")
    body: Any = Field(
        default=None,
        description="JSON value (sent as application/json) or a string (text/plain unless "
        "a Content-Type header says otherwise).",
    )


class RespondNode(NodeType):
    """Outputs the HTTP answer of a synchronous hook."""

    name = "respond"
    kind = NodeKind.PURE
    config_model = RespondConfig
    description = (
        "The answer of a sync inbound hook: status_code, headers and body (templates "
        "allowed); outputs them as {status_code, headers, body}."
    )
    example: ClassVar[dict[str, Any]] = {
        "status_code": 201,
        "body": {"order": "{{ input.body.order_id }}", "accepted": True},
    }

    def evaluate(self, config: NodeConfig, scope: Mapping[str, Any]) -> Any:
        assert isinstance(config, RespondConfig)
        return {"status_code": config.status_code, "headers": config.headers, "body": config.body}


respond_node = RespondNode()
