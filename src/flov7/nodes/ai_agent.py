"""``ai_agent``: a call to an OpenAI-compatible chat-completions endpoint (activity)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from flov7.nodes.base import NodeConfig, NodeKind, NodeType, register


class AiAgentConfig(NodeConfig):
    """Config of an ``ai_agent`` node."""

    agent_type: Literal["chat", "summarize", "classify", "extract"] = "chat"
    prompt: str = Field(min_length=1)
    system: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    labels: list[str] | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    response_format: Literal["text", "json"] | None = None
    credential: str | None = Field(
        default=None, description="Named credential with base_url/api_key/model."
    )
    timeout_seconds: float = Field(default=120, gt=0, le=3600)

    @model_validator(mode="after")
    def _type_needs(self) -> AiAgentConfig:
        if self.agent_type == "classify" and not self.labels:
            raise ValueError("agent_type 'classify' needs 'labels'")
        if self.agent_type == "extract" and not self.schema_:
            raise ValueError("agent_type 'extract' needs 'schema' (a JSON Schema)")
        return self


class AiAgentNode(NodeType):
    """Chat, summarize, classify or extract with an LLM."""

    name = "ai_agent"
    kind = NodeKind.ACTIVITY
    config_model = AiAgentConfig
    description = (
        "Calls an OpenAI-compatible chat-completions endpoint. Output: text, data (parsed "
        "for classify/extract), model, usage, finish_reason."
    )
    example: ClassVar[dict[str, Any]] = {
        "agent_type": "classify",
        "prompt": "Is this ticket urgent? {{ input.ticket }}",
        "labels": ["urgent", "normal"],
    }


ai_agent_node = register(AiAgentNode())
