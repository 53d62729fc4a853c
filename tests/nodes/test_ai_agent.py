"""The ``ai_agent`` node against a local OpenAI-compatible server (real HTTP, no mocks)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from flov7.errors import NodeExecutionError
from flov7.local.runtime import LocalRuntime
from flov7.nodes.ai_agent import llm_http_client
from flov7.nodes.base import get_node_type
from flov7.nodes.llm import ChatClient, ChatRequest, LlmEndpoint, parse_retry_after
from flov7.nodes.resources import NodeResources
from flov7.security import OutboundBlockedError
from nodes.db_fixtures import TestDatabase, closed_port, sqlite_db
from nodes.fake_llm_server import FakeLlmServer, Reply
from nodes.llm_fixtures import (
    API_KEY,
    MODEL,
    llm,
    llm_resources,
    llm_server,
    llm_settings,
    run_ai_agent,
)

# Imported fixtures (pytest finds them by name in this module).
__all__ = ["llm", "llm_resources", "llm_server", "sqlite_db"]

TICKET_SCHEMA = {
    "type": "object",
    "properties": {
        "customer": {"type": "string"},
        "priority": {"type": "integer", "minimum": 1, "maximum": 5},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["customer", "priority"],
    "additionalProperties": False,
}


async def fails(resources: NodeResources, **config: Any) -> NodeExecutionError:
    with pytest.raises(NodeExecutionError) as caught:
        await run_ai_agent(resources, config)
    return caught.value


def system_prompt(body: dict[str, Any]) -> str:
    messages = body["messages"]
    assert messages[0]["role"] == "system"
    return str(messages[0]["content"])


# --- the four agent types ----------------------------------------------------------------


async def test_chat_sends_the_prompt_and_returns_the_answer(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    llm.script(Reply.text("Hello there!", usage={"prompt_tokens": 5, "completion_tokens": 3}))

    output = await run_ai_agent(llm_resources, {"prompt": "Say hello"})

    assert output == {
        "text": "Hello there!",
        "data": None,
        "model": MODEL,
        "usage": {"prompt_tokens": 5, "completion_tokens": 3},
        "finish_reason": "stop",
        "repaired": False,
    }
    (request,) = llm.requests
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body == {"model": MODEL, "messages": [{"role": "user", "content": "Say hello"}]}


async def test_chat_passes_options_through(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    llm.script(Reply.text("Bonjour", model="served-model-v2", finish_reason="length"))

    output = await run_ai_agent(
        llm_resources,
        {
            "prompt": "Greet",
            "system": "Answer in French.",
            "model": "other-model",
            "temperature": 0.7,
            "max_tokens": 20,
        },
    )

    assert llm.bodies == [
        {
            "model": "other-model",
            "messages": [
                {"role": "system", "content": "Answer in French."},
                {"role": "user", "content": "Greet"},
            ],
            "temperature": 0.7,
            "max_tokens": 20,
        }
    ]
    assert output["model"] == "served-model-v2"  # What the server says it used.
    assert output["finish_reason"] == "length"


async def test_chat_with_json_response_format_parses_data(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    llm.script(Reply.json({"answer": 42}))

    output = await run_ai_agent(llm_resources, {"prompt": "The answer?", "response_format": "json"})

    assert output["data"] == {"answer": 42}
    assert llm.bodies[0]["response_format"] == {"type": "json_object"}


async def test_summarize_uses_summarizer_instructions(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    llm.script("A short summary.")

    output = await run_ai_agent(
        llm_resources,
        {"agent_type": "summarize", "prompt": "A long text...", "system": "At most 10 words."},
    )

    assert output["text"] == "A short summary."
    assert output["data"] is None
    system = system_prompt(llm.bodies[0])
    assert "Summarize" in system
    assert system.endswith("At most 10 words.")
    assert "response_format" not in llm.bodies[0]


async def test_classify_returns_the_label(llm: FakeLlmServer, llm_resources: NodeResources) -> None:
    llm.script(Reply.json({"label": "urgent"}))

    output = await run_ai_agent(
        llm_resources,
        {"agent_type": "classify", "prompt": "Server is down!", "labels": ["urgent", "normal"]},
    )

    assert output["data"] == "urgent"
    body = llm.bodies[0]
    assert body["response_format"] == {"type": "json_object"}
    assert body["temperature"] == 0.0
    assert '["urgent", "normal"]' in system_prompt(body)


@pytest.mark.parametrize("answer", ["Urgent.", '"urgent"', "  URGENT  ", '{"label": "Urgent"}'])
async def test_classify_tolerates_harmless_variations(
    llm: FakeLlmServer, llm_resources: NodeResources, answer: str
) -> None:
    llm.script(answer)

    output = await run_ai_agent(
        llm_resources,
        {"agent_type": "classify", "prompt": "x", "labels": ["urgent", "normal"]},
    )

    assert output["data"] == "urgent"
    assert output["repaired"] is False


@pytest.mark.parametrize("answer", ["3", '{"label": 3}', '{"label": "3"}'])
async def test_classify_with_numeric_labels(
    llm: FakeLlmServer, llm_resources: NodeResources, answer: str
) -> None:
    llm.script(answer)

    output = await run_ai_agent(
        llm_resources,
        {"agent_type": "classify", "prompt": "Rate 1-5", "labels": ["1", "2", "3", "4", "5"]},
    )

    assert output["data"] == "3"


async def test_classify_repairs_a_label_outside_the_list_once(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    llm.script(
        Reply.json({"label": "critical"}, usage={"prompt_tokens": 10, "total_tokens": 12}),
        Reply.json({"label": "normal"}, usage={"prompt_tokens": 20, "total_tokens": 21}),
    )

    output = await run_ai_agent(
        llm_resources,
        {"agent_type": "classify", "prompt": "x", "labels": ["urgent", "normal"]},
    )

    assert output["data"] == "normal"
    assert output["repaired"] is True
    assert output["usage"] == {"prompt_tokens": 30, "total_tokens": 33}
    first, repair = llm.bodies
    assert repair["messages"][:2] == first["messages"]
    assert repair["messages"][2] == {"role": "assistant", "content": '{"label": "critical"}'}
    assert repair["messages"][3]["role"] == "user"
    assert '"critical" is not one of the labels' in repair["messages"][3]["content"]


async def test_classify_fails_after_one_repair(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    llm.script("I cannot decide.", "Still no idea.", "never asked")

    error = await fails(
        llm_resources, agent_type="classify", prompt="x", labels=["urgent", "normal"]
    )

    assert error.error_type == "LlmInvalidOutput"
    assert error.retryable is False
    assert "after one repair attempt" in error.message
    assert "Still no idea." in error.message
    assert len(llm.bodies) == 2


async def test_extract_returns_the_validated_object(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    value = {"customer": "ACME", "priority": 2, "tags": ["billing"]}
    llm.script("```json\n" + json.dumps(value) + "\n```")  # Fences are tolerated.

    output = await run_ai_agent(
        llm_resources,
        {"agent_type": "extract", "prompt": "ACME has a billing issue", "schema": TICKET_SCHEMA},
    )

    assert output["data"] == value
    body = llm.bodies[0]
    assert body["response_format"] == {"type": "json_object"}
    assert json.dumps(TICKET_SCHEMA) in system_prompt(body)


async def test_extract_repairs_invalid_json(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    llm.script('{"customer": "ACME", "priority": ', Reply.json({"customer": "ACME", "priority": 1}))

    output = await run_ai_agent(
        llm_resources, {"agent_type": "extract", "prompt": "x", "schema": TICKET_SCHEMA}
    )

    assert output["data"] == {"customer": "ACME", "priority": 1}
    assert output["repaired"] is True
    assert "not valid JSON" in llm.bodies[1]["messages"][-1]["content"]


async def test_extract_fails_when_the_schema_is_still_violated(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    llm.script(
        Reply.json({"customer": "ACME", "priority": 9}),
        Reply.json({"customer": "ACME", "priority": 7}),
    )

    error = await fails(llm_resources, agent_type="extract", prompt="x", schema=TICKET_SCHEMA)

    assert error.error_type == "LlmInvalidOutput"
    assert error.retryable is False
    assert "at priority" in error.message
    assert "maximum" in error.message
    assert "at priority" in llm.bodies[1]["messages"][-1]["content"]


# --- configuration ---------------------------------------------------------------------------


async def test_not_configured_names_the_settings(llm: FakeLlmServer, clean_env: Path) -> None:
    async with NodeResources.open(llm_settings(llm, llm_base_url=None)) as resources:
        no_endpoint = await fails(resources, prompt="hi")
    async with NodeResources.open(llm_settings(llm, llm_model=None)) as resources:
        no_model = await fails(resources, prompt="hi")

    assert no_endpoint.error_type == "LlmNotConfigured"
    assert no_endpoint.retryable is False
    assert "FLOV7_LLM_BASE_URL" in no_endpoint.message
    assert "credential" in no_endpoint.message
    assert no_model.error_type == "LlmNotConfigured"
    assert "FLOV7_LLM_MODEL" in no_model.message
    assert llm.requests == []


async def test_a_named_llm_credential_is_used(llm: FakeLlmServer, clean_env: Path) -> None:
    # No FLOV7_LLM_* at all: the credential's host is allowed by the SSRF guard too.
    settings = llm_settings(
        llm,
        llm_base_url=None,
        llm_api_key=None,
        llm_model=None,
        credentials={
            "local": {
                "type": "llm",
                "base_url": llm.base_url,
                "api_key": API_KEY,
                "model": "credential-model",
            },
            "token": {"type": "bearer", "token": "tok-bearer-unrelated-1234"},
        },
    )
    llm.script("ok")
    async with NodeResources.open(settings) as resources:
        output = await run_ai_agent(resources, {"prompt": "hi", "credential": "local"})
        wrong_type = await fails(resources, prompt="hi", credential="token")

    assert output["text"] == "ok"
    assert llm.bodies[0]["model"] == "credential-model"
    assert llm.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert wrong_type.error_type == "CredentialError"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"agent_type": "classify", "prompt": "x"}, "needs 'labels'"),
        ({"agent_type": "classify", "prompt": "x", "labels": [" "]}, "needs 'labels'"),
        ({"agent_type": "extract", "prompt": "x"}, "needs 'schema'"),
        ({"agent_type": "extract", "prompt": "x", "schema": {"type": 5}}, "not a valid JSON"),
        ({"prompt": ""}, "prompt"),
    ],
)
def test_config_validation(config: dict[str, Any], message: str) -> None:
    node = get_node_type("ai_agent")
    assert node is not None

    with pytest.raises(NodeExecutionError, match=message) as caught:
        node.parse_config(config)

    assert caught.value.error_type == "InvalidNodeConfig"


# --- provider errors -----------------------------------------------------------------------


async def test_rate_limit_is_retryable_after_retry_after(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    llm.script(Reply.failure(429, "Rate limit reached for requests", Retry_After="7"))

    error = await fails(llm_resources, prompt="hi")

    assert error.error_type == "LlmRateLimited"
    assert error.retryable is True
    assert error.retry_after_seconds == 7
    assert "Rate limit reached" in error.message


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable(
    llm: FakeLlmServer, llm_resources: NodeResources, status: int
) -> None:
    llm.script(Reply.failure(status, "The server had an error"))

    error = await fails(llm_resources, prompt="hi")

    assert error.error_type == "LlmServerError"
    assert error.retryable is True
    assert error.details["status_code"] == status


async def test_other_client_errors_are_not_retryable(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    llm.script(Reply.failure(400, "This model's maximum context length is 8192 tokens"))

    error = await fails(llm_resources, prompt="hi")

    assert error.error_type == "LlmRequestError"
    assert error.retryable is False
    assert error.message == (
        "LLM endpoint answered 400: This model's maximum context length is 8192 tokens"
    )


async def test_a_wrong_api_key_is_not_retryable_and_never_shown(
    llm: FakeLlmServer, clean_env: Path
) -> None:
    wrong = "sk-wrong-key-5ec7e7"
    async with NodeResources.open(llm_settings(llm, llm_api_key=wrong)) as resources:
        error = await fails(resources, prompt="hi")

    assert error.error_type == "LlmAuthError"
    assert error.retryable is False
    assert "Incorrect API key provided: ***" in error.message
    assert wrong not in error.message
    assert wrong not in json.dumps(error.details)


async def test_the_api_key_never_appears_in_the_output(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    llm.script(f"Your key is {API_KEY}")

    output = await run_ai_agent(llm_resources, {"prompt": "what is my key?"})

    assert API_KEY not in json.dumps(output)


async def test_unreachable_endpoint_is_retryable(llm: FakeLlmServer, clean_env: Path) -> None:
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    async with NodeResources.open(llm_settings(llm, llm_base_url=base_url)) as resources:
        error = await fails(resources, prompt="hi")

    assert error.error_type == "LlmConnectionError"
    assert error.retryable is True


async def test_timeout_is_retryable(llm: FakeLlmServer, llm_resources: NodeResources) -> None:
    llm.script(Reply.text("late", delay=2))

    error = await fails(llm_resources, prompt="hi", http_timeout_seconds=0.2)

    assert error.error_type == "LlmTimeout"
    assert error.retryable is True


async def test_a_body_that_is_not_a_completion_is_retryable(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    llm.script(Reply(raw_body="<html>gateway</html>"), Reply(raw_body='{"choices": []}'))

    not_json = await fails(llm_resources, prompt="hi")
    no_choice = await fails(llm_resources, prompt="hi")

    for error in (not_json, no_choice):
        assert error.error_type == "LlmBadResponse"
        assert error.retryable is True


async def test_the_server_refuses_malformed_requests(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    # The client's own error path for a request the provider finds malformed.
    endpoint = LlmEndpoint(base_url=llm.base_url, api_key=SecretStr(API_KEY))
    client = ChatClient(llm_http_client(llm_resources, endpoint), endpoint, timeout_seconds=5)

    with pytest.raises(NodeExecutionError) as caught:
        await client.complete(
            ChatRequest(model=MODEL, messages=[{"role": "robot", "content": "x"}])
        )

    assert caught.value.error_type == "LlmRequestError"
    assert caught.value.retryable is False
    assert "role 'robot'" in caught.value.message


# --- the endpoint's exact origin, for this node only ----------------------------------------


async def test_the_endpoint_origin_is_opened_for_the_ai_agent_only(
    llm: FakeLlmServer, llm_resources: NodeResources
) -> None:
    # llm_settings sets no allow-list: 127.0.0.1 is reachable only as the LLM's origin.
    endpoint = LlmEndpoint(base_url=llm.base_url)
    client = llm_http_client(llm_resources, endpoint)
    assert llm_http_client(llm_resources, endpoint) is client  # one per endpoint and worker
    llm.script("ok")
    response = await client.post(
        f"{llm.base_url}/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 200
    # Nothing else on that host: not another port (the API, Temporal), not https.
    for url in (
        f"http://127.0.0.1:{closed_port()}/v1/chat/completions",
        f"https://127.0.0.1:{llm.port}/v1/chat/completions",
        f"http://localhost:{llm.port}/v1/chat/completions",
    ):
        with pytest.raises(OutboundBlockedError):
            await client.get(url)
    # And the worker's shared client (api_call, webhook) does not reach the LLM at all.
    with pytest.raises(OutboundBlockedError):
        await llm_resources.http.get(f"{llm.base_url}/models")


async def test_each_endpoint_gets_only_its_own_origin(llm: FakeLlmServer, clean_env: Path) -> None:
    other = f"http://127.0.0.1:{closed_port()}/v1"
    settings = llm_settings(
        llm, credentials={"other": {"type": "llm", "base_url": other, "model": MODEL}}
    )
    llm.script("from the default endpoint")
    async with NodeResources.open(settings) as resources:
        output = await run_ai_agent(resources, {"prompt": "hi"})
        unreachable = await fails(resources, prompt="hi", credential="other")
        default_client = llm_http_client(resources, LlmEndpoint(base_url=llm.base_url))
        with pytest.raises(OutboundBlockedError):
            await default_client.get(f"{other}/models")
        other_client = llm_http_client(resources, LlmEndpoint(base_url=other))
        with pytest.raises(OutboundBlockedError):
            await other_client.get(f"{llm.base_url}/models")
    assert output["text"] == "from the default endpoint"
    # The credential's origin is allowed for its own requests: the connection is tried
    # (and refused by the closed port), not blocked by the guard.
    assert unreachable.error_type == "LlmConnectionError"
    assert unreachable.retryable is True


async def test_the_allow_list_still_applies_to_the_endpoint_host(
    llm: FakeLlmServer, clean_env: Path
) -> None:
    # An allow-listed host stays reachable through the ai_agent client (e.g. an LLM
    # gateway on another port of the same allow-listed host).
    settings = llm_settings(llm, outbound_allowlist=f"127.0.0.1:{llm.port}")
    async with NodeResources.open(settings) as resources:
        client = llm_http_client(resources, LlmEndpoint(base_url=f"http://localhost:{llm.port}/v1"))
        llm.script("ok")
        response = await client.post(
            f"{llm.base_url}/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    assert response.status_code == 200


# --- the fake server itself (so that its checks can be trusted) ------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}]}, {}, 401, "API key"),
        ({"messages": [{"role": "user", "content": "x"}]}, None, 400, "model"),
        ({"model": MODEL, "messages": []}, None, 400, "messages"),
        ({"model": MODEL, "messages": [{"role": "user", "content": 5}]}, None, 400, "content"),
        (
            {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "temprature": 1},
            None,
            400,
            "Unrecognized request argument",
        ),
        (
            {
                "model": MODEL,
                "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "json_object"},
            },
            None,
            400,
            "must contain the word 'json'",
        ),
        (
            {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
            None,
            400,
            "max_tokens",
        ),
    ],
)
async def test_fake_server_validates_like_openai(
    llm: FakeLlmServer,
    body: dict[str, Any],
    headers: dict[str, str] | None,
    status: int,
    message: str,
) -> None:
    sent_headers = {"Authorization": f"Bearer {API_KEY}"} if headers is None else headers
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{llm.base_url}/chat/completions", json=body, headers=sent_headers
        )

    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_parse_retry_after() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)

    assert parse_retry_after("5") == 5
    assert parse_retry_after(later, now=now.timestamp()) == 30
    assert parse_retry_after("999999") == 60
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# --- end to end: a workflow document on the local runtime ------------------------------------


async def test_workflow_reads_a_database_and_classifies_with_templates(
    llm: FakeLlmServer, sqlite_db: TestDatabase, clean_env: Path
) -> None:
    await sqlite_db.create_tables()
    document = {
        "id": "triage",
        "name": "Triage",
        "nodes": [
            {
                "id": "save",
                "type": "database",
                "data": {"operation": "insert", "table": "events", "values": "{{ input.event }}"},
            },
            {
                "id": "load",
                "type": "database",
                "data": {"operation": "select", "table": "events", "where": {"kind": "ticket"}},
            },
            {
                "id": "triage",
                "type": "ai_agent",
                "data": {
                    "agent_type": "classify",
                    "prompt": "Ticket: {{ nodes.load.output.rows[0].payload }}",
                    "labels": ["urgent", "normal"],
                },
            },
        ],
        "edges": [
            {"id": "e1", "source": "save", "target": "load"},
            {"id": "e2", "source": "load", "target": "triage"},
        ],
    }
    llm.script(Reply.json({"label": "urgent"}))
    settings = llm_settings(llm, databases={"app": sqlite_db.url})

    async with NodeResources.open(settings) as resources:
        result = await LocalRuntime(resources).run(
            document, run_input={"event": {"kind": "ticket", "payload": "The site is down"}}
        )

    assert result["status"] == "completed", result
    assert llm.bodies[0]["messages"][-1]["content"] == "Ticket: The site is down"
    nodes = result["node_results"]
    assert nodes["save"]["output"] == {"affected_rows": 1}
    assert nodes["load"]["output"]["rows"] == [{"kind": "ticket", "payload": "The site is down"}]
    assert nodes["triage"]["output"]["data"] == "urgent"
