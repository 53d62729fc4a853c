"""A small client for OpenAI-compatible chat-completions endpoints.

``POST {base_url}/chat/completions`` is spoken by OpenAI and by most self-hosted model
servers (Ollama, vLLM, llama.cpp, LM Studio, LiteLLM...), so one client covers them.
It sends through the SSRF-guarded ``httpx`` client it is given: the ``ai_agent`` node
gives it one that may reach exactly the endpoint's origin (scheme, host, port) besides
what ``FLOV7_OUTBOUND_ALLOWLIST`` allows (see :func:`flov7.nodes.ai_agent.llm_http_client`).

Failures become :class:`~flov7.errors.NodeExecutionError`, split by whether retrying
can help:

- retryable: connection errors and timeouts, 408, 409, 429 (``Retry-After`` honoured
  through ``retry_after_seconds``), 5xx, and a 2xx body that is not a chat completion;
- not retryable: every other 4xx, with the provider's own error message (401/403 as
  ``LlmAuthError``).

The API key is sent only in the ``Authorization`` header and is redacted from every
message this module builds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from flov7.errors import NodeExecutionError
from flov7.nodes.http import parse_retry_after

__all__ = [
    "ChatClient",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "LlmEndpoint",
    "parse_retry_after",
]

ChatMessage = dict[str, str]
"""``{"role": "system" | "user" | "assistant", "content": "..."}``."""

_RETRY_STATUSES = frozenset({408, 409, 429})
_MAX_MESSAGE_CHARS = 500


@dataclass(frozen=True)
class LlmEndpoint:
    """Where to send requests: base URL (``.../v1``), API key, default model."""

    base_url: str
    api_key: SecretStr | None = None
    model: str | None = None
    source: str = "settings"
    """Where it came from, for messages: ``settings`` or ``credential 'name'``."""

    @property
    def completions_url(self) -> str:
        """``{base_url}/chat/completions``."""
        return self.base_url.rstrip("/") + "/chat/completions"


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions request. Unset options are left to the server's defaults."""

    model: str
    messages: list[ChatMessage]
    temperature: float | None = None
    max_tokens: int | None = None
    json_mode: bool = False
    """Ask for ``response_format: {"type": "json_object"}``."""

    def body(self) -> dict[str, Any]:
        """The JSON request body."""
        body: dict[str, Any] = {"model": self.model, "messages": self.messages}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        return body


@dataclass(frozen=True)
class ChatResponse:
    """The first choice of a completion, with the request's accounting."""

    text: str
    model: str
    finish_reason: str | None
    usage: dict[str, int] = field(default_factory=dict)


class ChatClient:
    """Sends :class:`ChatRequest` s to one :class:`LlmEndpoint`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoint: LlmEndpoint,
        *,
        timeout_seconds: float,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self._http = http
        self._endpoint = endpoint
        self._timeout = timeout_seconds
        secret = endpoint.api_key.get_secret_value() if endpoint.api_key else ""
        # The key is redacted here too: a credential store may not know it (tests, or
        # an endpoint built by hand), and providers sometimes echo a bad key back.
        self._redact = (lambda text: redact(text).replace(secret, "***")) if secret else redact

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send ``request``; raise :class:`NodeExecutionError` on any failure."""
        headers = {"Accept": "application/json"}
        if self._endpoint.api_key is not None:
            headers["Authorization"] = f"Bearer {self._endpoint.api_key.get_secret_value()}"
        url = self._endpoint.completions_url
        try:
            response = await self._http.post(
                url, json=request.body(), headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise self._error(
                f"LLM request to {url} timed out after {self._timeout:g}s",
                "LlmTimeout",
                retryable=True,
            ) from exc
        except httpx.TransportError as exc:
            raise self._error(
                f"Cannot reach the LLM endpoint {url}: {type(exc).__name__}: {exc}",
                "LlmConnectionError",
                retryable=True,
            ) from exc
        if response.status_code >= 400:
            raise self._status_error(response)
        return self._parse(response)

    def _status_error(self, response: httpx.Response) -> NodeExecutionError:
        status = response.status_code
        detail = _provider_message(response)
        message = f"LLM endpoint answered {status}: {detail}"
        details: dict[str, object] = {"status_code": status}
        if status in _RETRY_STATUSES or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                details["retry_after_seconds"] = retry_after
            return self._error(
                message,
                "LlmRateLimited" if status == 429 else "LlmServerError",
                retryable=True,
                details=details,
                retry_after_seconds=retry_after,
            )
        kind = "LlmAuthError" if status in (401, 403) else "LlmRequestError"
        return self._error(message, kind, retryable=False, details=details)

    def _parse(self, response: httpx.Response) -> ChatResponse:
        try:
            payload = response.json()
            choice = payload["choices"][0]
            message = choice["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise self._error(
                f"LLM endpoint returned {response.status_code} without a chat completion "
                f"(expected choices[0].message): {_shorten(response.text)}",
                "LlmBadResponse",
                retryable=True,
            ) from exc
        text = _content_text(message.get("content") if isinstance(message, Mapping) else None)
        usage = payload.get("usage")
        return ChatResponse(
            text=text,
            model=str(payload.get("model") or ""),
            finish_reason=choice.get("finish_reason") if isinstance(choice, Mapping) else None,
            usage={
                key: value
                for key, value in (usage.items() if isinstance(usage, Mapping) else ())
                if isinstance(value, int) and not isinstance(value, bool)
            },
        )

    def _error(
        self,
        message: str,
        error_type: str,
        *,
        retryable: bool,
        details: dict[str, object] | None = None,
        retry_after_seconds: float | None = None,
    ) -> NodeExecutionError:
        return NodeExecutionError(
            self._redact(message),
            error_type=error_type,
            retryable=retryable,
            details=details,
            retry_after_seconds=retry_after_seconds,
        )


def _provider_message(response: httpx.Response) -> str:
    """The provider's error text: OpenAI's ``{"error": {"message"}}`` or the raw body."""
    try:
        payload = response.json()
    except ValueError:
        return _shorten(response.text) or response.reason_phrase
    if isinstance(payload, Mapping):
        error = payload.get("error")
        if isinstance(error, Mapping) and error.get("message"):
            return _shorten(str(error["message"]))
        if isinstance(error, str) and error:
            return _shorten(error)
        if payload.get("message"):
            return _shorten(str(payload["message"]))
    return _shorten(json.dumps(payload))


def _content_text(content: Any) -> str:
    """A message's content as text (a string, or a list of ``{"type": "text"}`` parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return ""


def _shorten(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 3] + "..."
