"""A real HTTP/1.1 server on 127.0.0.1 for node tests (no mocks of the network).

Written on ``asyncio.start_server`` rather than an ASGI server so that tests can make it
misbehave in ways a well-behaved framework refuses to: a ``Content-Length`` that lies, a
body that never ends, headers then silence. It runs in the test's event loop.

Usage::

    async with TestHttpServer() as server:
        url = server.url_for("/json")          # http://127.0.0.1:<port>/json
        ...
        server.requests[-1].headers["authorization"]

Built-in endpoints (any method):

``/json``                 ``{"hello": "world", "items": [1, 2, 3]}``
``/echo``                 the request as JSON: method, path, query, headers, body, json
``/text``                 ``text/plain`` body
``/status/<code>``        that status; JSON error body; ``?retry_after=`` sets Retry-After,
                          ``?text=`` replaces the body, ``?location=`` sets Location
``/flaky/<key>``          fails ``?failures=`` times (default 2) with ``?status=`` (503)
                          then answers 200 ``{"key", "calls"}``; counters are per key
``/hang-once/<key>``      the first call per key hangs for 120 s (a worker killed or a
                          timeout mid-call), later ones answer 200 ``{"key", "calls"}``
``/slow?seconds=``        waits before answering
``/trickle?count=&interval=``  sends headers, then one chunk per interval
``/bytes?size=&declare=`` a body of ``size`` bytes, chunked, or with Content-Length if
                          ``declare=1``
``/lying-length?claimed=``  declares ``claimed`` bytes, sends 10, closes
``/redirect?to=&status=`` redirects to ``to``
``/redirect-loop``        redirects to itself
``/cookies/set``, ``/cookies/echo``  sets a cookie / echoes the Cookie header
``/gzip``                 gzip-encoded JSON
``/webhook``              records the delivery; with ``webhook_secret`` set, answers 401
                          unless the X-Flov7-Signature checks out (verified here, with
                          this module's own HMAC code)
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import hmac
import json
import ssl
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = ["RecordedRequest", "Reply", "TestHttpServer", "WebhookDelivery"]

_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class RecordedRequest:
    """A request as the server received it."""

    method: str
    target: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-cased names; repeated headers joined with ', '."""
    body: bytes
    received_at: float = field(default_factory=time.time)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def as_dict(self) -> dict[str, Any]:
        """What ``/echo`` answers."""
        text = self.body.decode("utf-8", "replace")
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": text,
            "json": parsed,
        }


@dataclass
class Reply:
    """What a handler answers. ``chunks`` streams the body with chunked encoding."""

    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunks: AsyncIterator[bytes] | None = None
    content_length: int | None = None
    """Override of the declared length (to lie); None = the real length."""
    close_after: bytes | None = None
    """Send these bytes after the headers, then close (with a lying Content-Length)."""

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None
    ) -> Reply:
        """A JSON reply."""
        return cls(
            status,
            json.dumps(data).encode(),
            [("Content-Type", "application/json"), *(headers or [])],
        )

    @classmethod
    def text(
        cls, text: str, status: int = 200, headers: list[tuple[str, str]] | None = None
    ) -> Reply:
        """A ``text/plain`` reply."""
        return cls(
            status, text.encode(), [("Content-Type", "text/plain; charset=utf-8"), *(headers or [])]
        )


Handler = Callable[[RecordedRequest, "TestHttpServer"], Awaitable[Reply]]


@dataclass
class WebhookDelivery:
    """A request to ``/webhook`` and whether its signature checked out."""

    request: RecordedRequest
    signature_valid: bool | None
    """None when the server has no ``webhook_secret``."""


def hmac_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The receiver's own computation of ``X-Flov7-Signature`` (independent of Flov7)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class TestHttpServer:
    """A small HTTP/1.1 server with the endpoints above; ``async with`` starts/stops it."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        url_host: str | None = None,
    ) -> None:
        """``url_host``: the host put in :attr:`url` (e.g. ``localhost`` for a TLS cert)."""
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.url_host = url_host or host
        self.requests: list[RecordedRequest] = []
        self.webhooks: list[WebhookDelivery] = []
        self.counters: dict[str, int] = {}
        self.webhook_secret: str | None = None
        self.routes: dict[str, Handler] = {}
        self._prefix_routes: dict[str, Handler] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        _install_default_routes(self)

    # --- Lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (on a free port when ``port`` is 0)."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop open connections (a slow handler is cancelled)."""
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            for task in list(self._connections):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- Public helpers -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43817``."""
        scheme = "https" if self.ssl_context else "http"
        host = f"[{self.url_host}]" if ":" in self.url_host else self.url_host
        return f"{scheme}://{host}:{self.port}"

    def url_for(self, path: str) -> str:
        """``url`` + ``path``."""
        return self.url + path

    def route(self, path: str, *, prefix: bool = False) -> Callable[[Handler], Handler]:
        """Decorator adding a handler for ``path`` (or every path under it)."""

        def add(handler: Handler) -> Handler:
            (self._prefix_routes if prefix else self.routes)[path] = handler
            return handler

        return add

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The requests received for ``path``."""
        return [request for request in self.requests if request.path == path]

    # --- Connection handling ------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            request = await _read_request(reader)
            if request is None:
                return
            self.requests.append(request)
            reply = await self._dispatch(request)
            await _write_reply(writer, request, reply)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # The client went away (timeouts in tests do that on purpose).
        except asyncio.CancelledError:
            pass  # stop() cancels what is still running (a slow handler, a trickle).
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _dispatch(self, request: RecordedRequest) -> Reply:
        handler = self.routes.get(request.path)
        if handler is None:
            for prefix, candidate in self._prefix_routes.items():
                if request.path.startswith(prefix):
                    handler = candidate
                    break
        if handler is None:
            return Reply.json({"error": f"no route {request.path}"}, 404)
        try:
            return await handler(request, self)
        except Exception:
            return Reply.text(traceback.format_exc(), 500)


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    parts = urlsplit(target)
    return RecordedRequest(
        method=method,
        target=target,
        path=parts.path,
        query=parse_qs(parts.query, keep_blank_values=True),
        headers=headers,
        body=body,
    )


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def _write_reply(
    writer: asyncio.StreamWriter, request: RecordedRequest, reply: Reply
) -> None:
    reason = _REASONS.get(reply.status, "Status")
    head = [f"HTTP/1.1 {reply.status} {reason}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in reply.headers]
    if reply.close_after is not None:
        head.append(f"Content-Length: {reply.content_length}")
    elif reply.chunks is not None:
        if reply.content_length is not None:
            head.append(f"Content-Length: {reply.content_length}")
        else:
            head.append("Transfer-Encoding: chunked")
    else:
        length = reply.content_length if reply.content_length is not None else len(reply.body)
        head.append(f"Content-Length: {length}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    if request.method == "HEAD":
        return
    if reply.close_after is not None:
        writer.write(reply.close_after)
        await writer.drain()
        return
    if reply.chunks is None:
        writer.write(reply.body)
        await writer.drain()
        return
    chunked = reply.content_length is None
    async for chunk in reply.chunks:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        await writer.drain()
    if chunked:
        writer.write(b"0\r\n\r\n")
        await writer.drain()


# --- Default endpoints ------------------------------------------------------------------


def _arg(request: RecordedRequest, name: str, default: str) -> str:
    return request.query.get(name, [default])[0]


def _install_default_routes(server: TestHttpServer) -> None:
    @server.route("/json")
    async def json_reply(request: RecordedRequest, _: TestHttpServer) -> Reply:
        return Reply.json({"hello": "world", "items": [1, 2, 3]})

    @server.route("/echo")
    async def echo(request: RecordedRequest, _: TestHttpServer) -> Reply:
        return Reply.json(request.as_dict())

    @server.route("/text")
    async def text(request: RecordedRequest, _: TestHttpServer) -> Reply:
        return Reply.text("plain text, not JSON")

    @server.route("/not-json")
    async def not_json(request: RecordedRequest, _: TestHttpServer) -> Reply:
        return Reply(200, b"{oops", [("Content-Type", "application/json")])

    @server.route("/status/", prefix=True)
    async def status(request: RecordedRequest, _: TestHttpServer) -> Reply:
        code = int(request.path.rsplit("/", 1)[1])
        headers = []
        if "retry_after" in request.query:
            headers.append(("Retry-After", _arg(request, "retry_after", "")))
        if "location" in request.query:
            headers.append(("Location", _arg(request, "location", "")))
        if "text" in request.query:
            return Reply.text(_arg(request, "text", ""), code, headers)
        return Reply.json({"error": f"status {code}", "code": code}, code, headers)

    @server.route("/flaky/", prefix=True)
    async def flaky(request: RecordedRequest, srv: TestHttpServer) -> Reply:
        key = request.path.removeprefix("/flaky/")
        srv.counters[key] = calls = srv.counters.get(key, 0) + 1
        if calls <= int(_arg(request, "failures", "2")):
            headers = []
            if "retry_after" in request.query:
                headers.append(("Retry-After", _arg(request, "retry_after", "")))
            code = int(_arg(request, "status", "503"))
            return Reply.json({"error": "try again", "calls": calls}, code, headers)
        return Reply.json({"key": key, "calls": calls})

    @server.route("/hang-once/", prefix=True)
    async def hang_once(request: RecordedRequest, srv: TestHttpServer) -> Reply:
        key = request.path.removeprefix("/hang-once/")
        counter = f"hang-once:{key}"  # apart from /flaky/'s counters
        srv.counters[counter] = calls = srv.counters.get(counter, 0) + 1
        if calls == 1:
            await asyncio.sleep(120)
        return Reply.json({"key": key, "calls": calls})

    @server.route("/slow")
    async def slow(request: RecordedRequest, _: TestHttpServer) -> Reply:
        await asyncio.sleep(float(_arg(request, "seconds", "5")))
        return Reply.json({"slow": True})

    @server.route("/trickle")
    async def trickle(request: RecordedRequest, _: TestHttpServer) -> Reply:
        count = int(_arg(request, "count", "20"))
        interval = float(_arg(request, "interval", "0.2"))

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(count):
                yield b"x"
                await asyncio.sleep(interval)

        return Reply(200, headers=[("Content-Type", "text/plain")], chunks=chunks())

    @server.route("/bytes")
    async def many_bytes(request: RecordedRequest, _: TestHttpServer) -> Reply:
        size = int(_arg(request, "size", "1024"))
        declare = _arg(request, "declare", "0") == "1"

        async def chunks() -> AsyncIterator[bytes]:
            remaining = size
            while remaining > 0:
                step = min(65536, remaining)
                yield b"x" * step
                remaining -= step

        return Reply(
            200,
            headers=[("Content-Type", "application/octet-stream")],
            chunks=chunks(),
            content_length=size if declare else None,
        )

    @server.route("/lying-length")
    async def lying_length(request: RecordedRequest, _: TestHttpServer) -> Reply:
        claimed = int(_arg(request, "claimed", str(10**12)))
        return Reply(
            200,
            headers=[("Content-Type", "text/plain")],
            content_length=claimed,
            close_after=b"0123456789",
        )

    @server.route("/redirect")
    async def redirect(request: RecordedRequest, srv: TestHttpServer) -> Reply:
        code = int(_arg(request, "status", "302"))
        return Reply(code, headers=[("Location", _arg(request, "to", srv.url_for("/json")))])

    @server.route("/redirect-loop")
    async def redirect_loop(request: RecordedRequest, _: TestHttpServer) -> Reply:
        return Reply(302, headers=[("Location", "/redirect-loop")])

    @server.route("/cookies/set")
    async def set_cookie(request: RecordedRequest, _: TestHttpServer) -> Reply:
        return Reply.json({"set": True}, headers=[("Set-Cookie", "session=abc123; Path=/")])

    @server.route("/cookies/echo")
    async def echo_cookie(request: RecordedRequest, _: TestHttpServer) -> Reply:
        return Reply.json({"cookie": request.headers.get("cookie")})

    @server.route("/gzip")
    async def gzipped(request: RecordedRequest, _: TestHttpServer) -> Reply:
        body = gzip.compress(json.dumps({"compressed": True}).encode())
        return Reply(
            200, body, [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]
        )

    @server.route("/webhook")
    async def webhook(request: RecordedRequest, srv: TestHttpServer) -> Reply:
        valid: bool | None = None
        if srv.webhook_secret is not None:
            timestamp = request.headers.get("x-flov7-timestamp", "")
            expected = hmac_signature(srv.webhook_secret, timestamp, request.body)
            fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
            valid = fresh and hmac.compare_digest(
                expected, request.headers.get("x-flov7-signature", "")
            )
        srv.webhooks.append(WebhookDelivery(request, valid))
        if valid is False:
            return Reply.json({"error": "bad signature"}, 401)
        return Reply.json({"received": True}, 202)
