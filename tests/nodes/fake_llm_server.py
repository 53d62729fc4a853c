"""A local OpenAI-compatible chat-completions server with scripted answers.

It speaks the real protocol over real HTTP on 127.0.0.1, so the ``ai_agent`` node and
its client are tested end to end (headers, JSON bodies, status codes, ``Retry-After``),
with nothing patched. Like OpenAI, it rejects malformed requests with 400 and an
``{"error": {"message", "type", "param", "code"}}`` body:

- ``Authorization: Bearer <key>`` must match the server's key (401 otherwise); when the
  key is wrong the message quotes it back, as some providers do, so that tests can
  check the node redacts it;
- ``model`` (non-empty string) and ``messages`` (non-empty list) are required, roles
  must be ``system``/``user``/``assistant``/``developer``/``tool``, contents strings
  (or text parts), unknown parameters are refused;
- ``temperature`` in [0, 2], ``max_tokens`` a positive integer, ``response_format``
  ``{"type": "text" | "json_object" | "json_schema"}``; ``json_object`` requires the
  word "json" somewhere in the messages (an OpenAI rule).

Answers come from a queue scripted per test (:meth:`FakeLlmServer.script`): a
:class:`Reply` is either an assistant message or an error status with headers. An
empty queue answers 500 with a message saying so. Every valid request is recorded.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

ROLES = frozenset({"system", "user", "assistant", "developer", "tool"})
KNOWN_PARAMETERS = frozenset(
    {
        "model", "messages", "temperature", "max_tokens", "max_completion_tokens",
        "response_format", "top_p", "n", "stop", "presence_penalty", "frequency_penalty",
        "seed", "user", "stream", "tools", "tool_choice", "logprobs",
    }
)  # fmt: skip
MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})


@dataclass
class Reply:
    """One scripted answer."""

    content: str | None = None
    """The assistant's message (a 200 answer)."""
    status: int = 200
    error: str | None = None
    """Error message of a non-200 answer (OpenAI's error body)."""
    headers: dict[str, str] = field(default_factory=dict)
    finish_reason: str = "stop"
    model: str | None = None
    """Model reported in the answer (default: the requested one)."""
    usage: dict[str, int] | None = None
    """Default: rough token counts from the word counts."""
    raw_body: str | None = None
    """Send this text as the body instead (for garbage answers)."""
    delay: float = 0.0
    """Seconds to wait before answering (for timeouts)."""

    @classmethod
    def text(cls, content: str, **options: Any) -> Reply:
        """A 200 answer with ``content``."""
        return cls(content=content, **options)

    @classmethod
    def json(cls, value: Any, **options: Any) -> Reply:
        """A 200 answer whose content is ``value`` as JSON."""
        return cls(content=json.dumps(value), **options)

    @classmethod
    def failure(cls, status: int, message: str = "error", **headers: str) -> Reply:
        """An error answer (``Retry_After="3"`` becomes the ``Retry-After`` header)."""
        return cls(
            status=status,
            error=message,
            headers={name.replace("_", "-"): value for name, value in headers.items()},
        )


@dataclass
class RecordedRequest:
    """A request the server accepted (or refused, with the refusal)."""

    body: Any
    headers: dict[str, str]
    status: int


class FakeLlmServer:
    """The server; use as a context manager or :meth:`start` / :meth:`stop`."""

    def __init__(self, api_key: str | None = "sk-test-0123456789abcdef") -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(_app(self), log_level="warning", lifespan="off", access_log=False)
        )
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """What ``FLOV7_LLM_BASE_URL`` would be: ``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply | str) -> None:
        """Queue answers (a string is a 200 answer with that content)."""
        with self._lock:
            for reply in replies:
                self._replies.append(Reply.text(reply) if isinstance(reply, str) else reply)

    def reset(self) -> None:
        """Forget queued answers and recorded requests."""
        with self._lock:
            self._replies.clear()
            self.requests.clear()

    @property
    def bodies(self) -> list[Any]:
        """Bodies of the requests that were answered from the script."""
        return [request.body for request in self.requests if request.status != 400]

    def start(self) -> None:
        """Serve in a background thread (its own event loop) until :meth:`stop`."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake LLM server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next_reply(self) -> Reply | None:
        with self._lock:
            return self._replies.popleft() if self._replies else None

    def _record(self, body: Any, headers: dict[str, str], status: int) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(body, headers, status))


def _error(status: int, message: str, *, param: str | None = None, code: str | None = None,
           error_type: str = "invalid_request_error") -> JSONResponse:  # fmt: skip
    return JSONResponse(
        {"error": {"message": message, "type": error_type, "param": param, "code": code}},
        status_code=status,
    )


def _app(server: FakeLlmServer) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        refusal = _check_auth(server, headers) or _check_body(body, headers)
        if refusal is not None:
            server._record(body, headers, refusal.status_code)
            return refusal
        server._record(body, headers, 200)
        reply = server._next_reply()
        if reply is None:
            return _error(500, "fake LLM server: no scripted reply left", error_type="server_error")
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return _answer(reply, body)

    return app


def _check_auth(server: FakeLlmServer, headers: dict[str, str]) -> JSONResponse | None:
    if server.api_key is None:
        return None
    authorization = headers.get("authorization", "")
    if not authorization:
        return _error(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    scheme, _, key = authorization.partition(" ")
    if scheme != "Bearer" or key != server.api_key:
        # Quotes the key back in full (OpenAI masks it; not every provider does).
        return _error(401, f"Incorrect API key provided: {key}.", code="invalid_api_key")
    return None


def _check_body(body: Any, headers: dict[str, str]) -> JSONResponse | None:
    if not headers.get("content-type", "").startswith("application/json"):
        return _error(400, "Content-Type must be application/json")
    if not isinstance(body, dict):
        return _error(400, "We could not parse the JSON body of your request.")
    unknown = sorted(set(body) - KNOWN_PARAMETERS)
    if unknown:
        return _error(400, f"Unrecognized request argument supplied: {unknown[0]}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return _error(400, "you must provide a model parameter", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _error(400, "'messages' must be a non-empty array", param="messages")
    for index, message in enumerate(messages):
        problem = _message_problem(message)
        if problem:
            return _error(400, f"Invalid 'messages[{index}]': {problem}", param="messages")
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 2
    ):
        return _error(400, "'temperature' must be a number between 0 and 2", param="temperature")
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        return _error(400, "'max_tokens' must be a positive integer", param="max_tokens")
    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            return _error(400, "Invalid 'response_format.type'", param="response_format")
        mentions_json = any(
            "json" in str(message.get("content", "")).lower() for message in messages
        )
        if kind == "json_object" and not mentions_json:
            return _error(
                400,
                "'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'.",
                param="messages",
            )
    return None


def _message_problem(message: Any) -> str | None:
    if not isinstance(message, dict):
        return "expected an object"
    extra = sorted(set(message) - MESSAGE_KEYS)
    if extra:
        return f"unknown field {extra[0]!r}"
    role = message.get("role")
    if role not in ROLES:
        return f"role {role!r} is not one of {sorted(ROLES)}"
    content = message.get("content")
    if isinstance(content, str):
        return None
    if isinstance(content, list) and all(
        isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        for part in content
    ):
        return None
    if content is None and role == "assistant" and message.get("tool_calls"):
        return None
    return "'content' must be a string or an array of text parts"


def _answer(reply: Reply, body: dict[str, Any]) -> Response:
    if reply.raw_body is not None:
        return Response(reply.raw_body, status_code=reply.status, headers=reply.headers)
    if reply.status != 200:
        response = _error(
            reply.status,
            reply.error or "error",
            error_type="rate_limit_error" if reply.status == 429 else "server_error",
        )
        response.headers.update(reply.headers)
        return response
    content = reply.content or ""
    prompt_words = sum(len(str(message.get("content", "")).split()) for message in body["messages"])
    completion_words = len(content.split())
    usage = reply.usage or {
        "prompt_tokens": prompt_words,
        "completion_tokens": completion_words,
        "total_tokens": prompt_words + completion_words,
    }
    return JSONResponse(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model or body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": usage,
        },
        headers=reply.headers,
    )
