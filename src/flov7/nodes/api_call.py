"""``api_call``: an HTTP request (activity)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from flov7.nodes.base import NodeConfig, NodeKind, NodeType, register

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


class AuthConfig(NodeConfig):
    """Authentication taken from a named credential (never a literal secret)."""

    type: Literal["bearer", "basic", "header"]
    credential: str = Field(min_length=1, description="Name of a configured credential.")
    header_name: str | None = Field(
        default=None, description="Header to set for type 'header' (default X-API-Key)."
    )


class ApiCallConfig(NodeConfig):
    """Config of an ``api_call`` node. Every string may hold ``{{ }}`` templates."""

    url: str = Field(min_length=1, examples=["https://api.example.com/orders/{{ input.id }}"])
    method: HttpMethod = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    body: Any = Field(default=None, description="JSON value, or text when body_type is raw.")
    body_type: Literal["json", "form", "raw"] = "json"
    timeout_seconds: float = Field(default=30, gt=0, le=3600)
    auth: AuthConfig | None = None
    follow_redirects: bool = True
    fail_on_status: bool = Field(
        default=True, description="Fail the node on a 4xx/5xx status (5xx and 429 retry)."
    )


class ApiCallNode(NodeType):
    """Makes an HTTP request and outputs the response."""

    name = "api_call"
    kind = NodeKind.ACTIVITY
    config_model = ApiCallConfig
    description = (
        "HTTP request. Output: status_code, headers, body (parsed JSON when the response "
        "is JSON), ok, elapsed_ms. Connection errors, timeouts, 429 and 5xx retry."
    )
    example: ClassVar[dict[str, Any]] = {
        "url": "https://api.example.com/orders/{{ input.order_id }}",
        "method": "GET",
        "headers": {"Accept": "application/json"},
    }


api_call_node = register(ApiCallNode())
