"""``ai_agent``: a call to an OpenAI-compatible chat-completions endpoint (activity).

Four agent types share one request path (:mod:`flov7.nodes.llm`) and differ in the
system prompt they send and in how the answer is read:

- ``chat``: the prompt as is (with the node's ``system`` if any); ``data`` is None, or
  the parsed JSON when ``response_format`` is ``json``.
- ``summarize``: a summarizer's instructions; ``data`` is None.
- ``classify``: asks for ``{"label": "<one of labels>"}``; ``data`` is the label.
- ``extract``: asks for a JSON object satisfying ``schema``; ``data`` is the object,
  validated with ``jsonschema``.

Models do not always comply. An answer that is not valid JSON, not one of the labels or
not valid against the schema gets exactly one repair round: the bad answer goes back
with what is wrong with it. A second bad answer fails the node (not retryable: the same
prompt would most likely fail the same way).

Requests go through an SSRF-guarded client of their own (:func:`llm_http_client`): the
worker's policy (``FLOV7_OUTBOUND_ALLOWLIST``) plus the exact origin (scheme, host,
port) of the endpoint in use, often a local model server on ``127.0.0.1``. The other
nodes' shared client does not get that origin: configuring an LLM endpoint opens neither
its host's other ports nor the endpoint itself to ``api_call`` or ``webhook``.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httpx
from jsonschema import SchemaError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from pydantic import Field, model_validator

from flov7.errors import NodeExecutionError
from flov7.nodes.base import ActivityContext, NodeConfig, NodeKind, NodeType
from flov7.nodes.credentials import LlmCredential
from flov7.nodes.http import build_http_client
from flov7.nodes.llm import ChatClient, ChatMessage, ChatRequest, ChatResponse, LlmEndpoint
from flov7.nodes.outputs import closed_object
from flov7.nodes.resources import NodeResources, require_resources
from flov7.security.ssrf import Origin
from flov7.spec import Execution

AgentType = Literal["chat", "summarize", "classify", "extract"]

_SUMMARIZE_SYSTEM = (
    "You are a precise summarizer. Summarize the text the user gives you. Keep the key "
    "facts, names, dates and numbers; do not add anything that is not in the text. Reply "
    "with the summary only."
)
_CLASSIFY_SYSTEM = (
    "You are a classifier. Assign the user's input to exactly one of these labels: "
    '{labels}. Reply with a JSON object of the form {{"label": "<label>"}}, where '
    "<label> is copied exactly from the list, and nothing else."
)
_EXTRACT_SYSTEM = (
    "You extract structured data. Read the user's input and reply with a single JSON "
    "object that is valid against this JSON Schema:\n{schema}\nUse only information "
    "from the input. Reply with the JSON object only: no prose, no code fences."
)
_JSON_SYSTEM = "Reply with a single valid JSON value only: no prose, no code fences."

_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```$", re.DOTALL)
_MAX_ANSWER_IN_ERROR = 300


class AiAgentConfig(NodeConfig):
    """Config of an ``ai_agent`` node."""

    agent_type: AgentType = "chat"
    prompt: str = Field(min_length=1, description="The user message (templates allowed).")
    system: str | None = Field(
        default=None, description="Extra system instructions (added to the agent type's)."
    )
    model: str | None = Field(
        default=None, description="Model name (default: the credential's, or FLOV7_LLM_MODEL)."
    )
    temperature: float | None = Field(
        default=None, ge=0, le=2, description="Default: 0 for classify/extract, else the server's."
    )
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    labels: list[str] | None = Field(default=None, description="classify: the allowed labels.")
    schema_: dict[str, Any] | None = Field(
        default=None, alias="schema", description="extract: the JSON Schema of the answer."
    )
    response_format: Literal["text", "json"] | None = Field(
        default=None,
        description=(
            "json: ask for a JSON answer (response_format json_object) and parse it into "
            "data. Default: json for classify/extract, text otherwise."
        ),
    )
    credential: str | None = Field(
        default=None, description="Named 'llm' credential with base_url/api_key/model."
    )
    http_timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="HTTP time limit per request (default FLOV7_LLM_TIMEOUT_SECONDS). The "
        "time limit of one attempt is the node's own timeout_seconds, next to data.",
    )

    @model_validator(mode="after")
    def _type_needs(self) -> AiAgentConfig:
        if self.agent_type == "classify" and (
            not self.labels or not all(label.strip() for label in self.labels)
        ):
            raise ValueError("agent_type 'classify' needs 'labels' (non-empty strings)")
        if self.agent_type == "extract":
            if not self.schema_:
                raise ValueError("agent_type 'extract' needs 'schema' (a JSON Schema)")
            try:
                validator_for(self.schema_).check_schema(self.schema_)
            except SchemaError as exc:
                raise ValueError(f"'schema' is not a valid JSON Schema: {exc.message}") from None
        return self


class _InvalidAnswer(ValueError):
    """The model's answer does not have the requested shape (message says how)."""


@dataclass(frozen=True)
class _Plan:
    """What to send for a config and how to read the answer."""

    messages: list[ChatMessage]
    json_mode: bool
    temperature: float | None
    expects: str
    """How the repair prompt describes a good answer."""


class AiAgentNode(NodeType):
    """Chat, summarize, classify or extract with an LLM."""

    name = "ai_agent"
    kind = NodeKind.ACTIVITY
    execution = Execution.LOCAL  # short I/O: a local activity when its attempt is short
    config_model = AiAgentConfig
    output_schema = closed_object(
        "The model's answer.",
        {
            "text": {"type": "string"},
            "data": {"description": "The label (classify) or the parsed object (extract)."},
            "model": {"type": "string"},
            "usage": {"type": "object", "additionalProperties": {"type": "integer"}},
            "finish_reason": {"type": ["string", "null"]},
            "repaired": {"type": "boolean"},
        },
    )
    description = (
        "Calls an OpenAI-compatible chat-completions endpoint. Output: text, data (parsed "
        "for classify/extract), model, usage, finish_reason."
    )
    example: ClassVar[dict[str, Any]] = {
        "agent_type": "classify",
        "prompt": "Is this ticket urgent? {{ input.ticket }}",
        "labels": ["urgent", "normal"],
    }

    async def execute(self, config: NodeConfig, context: ActivityContext) -> Any:
        """Send the prompt, read the answer (one repair round), return the output."""
        assert isinstance(config, AiAgentConfig)
        resources = require_resources(context, self.name)
        with resources.redacting_errors():
            output = await _run(config, resources)
            # A model can repeat anything it was sent; outputs go to the run's history.
            return resources.redact_value(output)


async def _run(config: AiAgentConfig, resources: NodeResources) -> dict[str, Any]:
    """One ``ai_agent`` run: resolve the endpoint, ask, read the answer (one repair)."""
    endpoint = _endpoint(config, resources)
    model = config.model or endpoint.model
    if not model:
        raise NodeExecutionError(
            f"No model for the ai_agent node: set 'model' on the node, or the default "
            f"model of the endpoint ({_model_setting(endpoint)})",
            error_type="LlmNotConfigured",
            retryable=False,
        )
    client = ChatClient(
        llm_http_client(resources, endpoint),
        endpoint,
        timeout_seconds=config.http_timeout_seconds or resources.settings.llm_timeout_seconds,
        redact=resources.redact,
    )
    plan = _plan(config)

    async def send(messages: list[ChatMessage]) -> ChatResponse:
        return await client.complete(
            ChatRequest(
                model=model,
                messages=messages,
                temperature=plan.temperature,
                max_tokens=config.max_tokens,
                json_mode=plan.json_mode,
            )
        )

    first = await send(plan.messages)
    try:
        return _output([first], _read_answer(config, plan, first.text), model)
    except _InvalidAnswer as problem:
        repair = [
            *plan.messages,
            {"role": "assistant", "content": first.text},
            {
                "role": "user",
                "content": f"Your answer is invalid: {problem}. Reply again with "
                f"{plan.expects} only.",
            },
        ]
    second = await send(repair)
    try:
        return _output([first, second], _read_answer(config, plan, second.text), model)
    except _InvalidAnswer as problem:
        raise NodeExecutionError(
            f"The model's answer is still invalid after one repair attempt: {problem}. "
            f"Answer: {_excerpt(second.text)}",
            error_type="LlmInvalidOutput",
            retryable=False,
            details={"problem": str(problem)},
        ) from None


def _endpoint(config: AiAgentConfig, resources: NodeResources) -> LlmEndpoint:
    """The endpoint from the node's credential, else from the worker's settings."""
    if config.credential:
        credential = resources.credentials.get(config.credential, LlmCredential)
        return LlmEndpoint(
            base_url=credential.base_url,
            api_key=credential.api_key,
            model=credential.model,
            source=f"credential '{config.credential}'",
        )
    settings = resources.settings
    if not settings.llm_base_url:
        raise NodeExecutionError(
            "No LLM endpoint is configured: set FLOV7_LLM_BASE_URL (e.g. "
            "http://127.0.0.1:11434/v1 or https://api.openai.com/v1), FLOV7_LLM_MODEL and, "
            "if the server needs one, FLOV7_LLM_API_KEY on the worker; or name an 'llm' "
            "credential in the node's 'credential'",
            error_type="LlmNotConfigured",
            retryable=False,
        )
    return LlmEndpoint(
        base_url=settings.llm_base_url, api_key=settings.llm_api_key, model=settings.llm_model
    )


def llm_http_client(resources: NodeResources, endpoint: LlmEndpoint) -> httpx.AsyncClient:
    """The worker's HTTP client for requests to ``endpoint`` (one per origin, shared).

    Guarded like the shared client, with the same allow-list, plus exactly the origin of
    ``endpoint.base_url``: that scheme, host and port, whatever the host resolves to.
    Created on first use and closed with the other shared resources.
    """
    origin = str(Origin.of(endpoint.base_url))

    def build(resources: NodeResources) -> httpx.AsyncClient:
        settings = resources.settings
        return build_http_client(
            settings.outbound_policy(origins=[origin]),
            max_connections=settings.http_max_connections,
        )

    return resources.shared(f"ai_agent.http {origin}", build)


def _model_setting(endpoint: LlmEndpoint) -> str:
    if endpoint.source == "settings":
        return "FLOV7_LLM_MODEL on the worker"
    return f"'model' of {endpoint.source}"


def _plan(config: AiAgentConfig) -> _Plan:
    structured = config.agent_type in ("classify", "extract")
    json_mode = config.response_format == "json" or (config.response_format is None and structured)
    # Classification and extraction want the most likely answer, not a creative one.
    temperature = (
        config.temperature if config.temperature is not None else (0.0 if structured else None)
    )
    system: str | None
    if config.agent_type == "summarize":
        system, expects = _SUMMARIZE_SYSTEM, "the summary"
    elif config.agent_type == "classify":
        assert config.labels is not None
        system = _CLASSIFY_SYSTEM.format(labels=json.dumps(config.labels, ensure_ascii=False))
        expects = 'a JSON object {"label": ...} whose label is one of ' + json.dumps(
            config.labels, ensure_ascii=False
        )
    elif config.agent_type == "extract":
        system = _EXTRACT_SYSTEM.format(schema=json.dumps(config.schema_, ensure_ascii=False))
        expects = "a JSON object valid against the schema"
    else:
        system, expects = (_JSON_SYSTEM if json_mode else None), "a valid JSON value"
    instructions = [part for part in (system, config.system) if part]
    if json_mode and config.agent_type == "summarize":
        instructions.append(_JSON_SYSTEM)
    messages: list[ChatMessage] = []
    if instructions:
        messages.append({"role": "system", "content": "\n\n".join(instructions)})
    messages.append({"role": "user", "content": config.prompt})
    return _Plan(messages, json_mode, temperature, expects)


def _read_answer(config: AiAgentConfig, plan: _Plan, text: str) -> Any:
    """``data`` for the answer ``text``; raises :class:`_InvalidAnswer`."""
    if config.agent_type == "classify":
        assert config.labels is not None
        return _label(text, config.labels)
    if config.agent_type == "extract":
        assert config.schema_ is not None
        value = _parse_json(text)
        _validate(value, config.schema_)
        return value
    if plan.json_mode:
        return _parse_json(text)
    return None


def _parse_json(text: str) -> Any:
    candidate = text.strip()
    fenced = _FENCE.match(candidate)
    if fenced:  # Many models wrap JSON in ```json fences even when told not to.
        candidate = fenced.group(1).strip()
    try:
        return json.loads(candidate)
    except ValueError as exc:
        raise _InvalidAnswer(f"it is not valid JSON ({exc})") from None


def _validate(value: Any, schema: dict[str, Any]) -> None:
    validator = validator_for(schema)(schema)
    error = best_match(validator.iter_errors(value))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        raise _InvalidAnswer(f"it does not match the schema at {where}: {error.message}")


def _label(text: str, labels: list[str]) -> str:
    """The label chosen by ``text``: JSON ``{"label": ...}``, a JSON string, or bare text."""
    answer: Any = text.strip()
    with contextlib.suppress(_InvalidAnswer):  # A bare label ("urgent") is fine too.
        answer = _parse_json(text)
    if isinstance(answer, dict):
        if "label" not in answer:
            raise _InvalidAnswer('the JSON object has no "label" key')
        answer = answer["label"]
    if isinstance(answer, int | float):  # bool too: labels such as "1", "2", "true".
        answer = json.dumps(answer)
    if not isinstance(answer, str):
        raise _InvalidAnswer(f"the label must be a string, got {json.dumps(answer)}")
    if answer in labels:
        return answer
    # Tolerate case, surrounding quotes and a final period: "Urgent." is "urgent".
    normalized = answer.strip().strip("\"'`").rstrip(".").strip().casefold()
    matches = [label for label in labels if label.strip().casefold() == normalized]
    if len(matches) == 1:
        return matches[0]
    raise _InvalidAnswer(
        f"{json.dumps(answer, ensure_ascii=False)[:100]} is not one of the labels "
        f"{json.dumps(labels, ensure_ascii=False)}"
    )


def _output(responses: list[ChatResponse], data: Any, model: str) -> dict[str, Any]:
    final = responses[-1]
    usage: dict[str, int] = {}
    for response in responses:  # A repair round costs tokens too.
        for key, value in response.usage.items():
            usage[key] = usage.get(key, 0) + value
    return {
        "text": final.text,
        "data": data,
        "model": final.model or model,
        "usage": usage,
        "finish_reason": final.finish_reason,
        "repaired": len(responses) > 1,
    }


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= _MAX_ANSWER_IN_ERROR:
        return json.dumps(flat, ensure_ascii=False)
    return json.dumps(flat[: _MAX_ANSWER_IN_ERROR - 3] + "...", ensure_ascii=False)


ai_agent_node = AiAgentNode()
