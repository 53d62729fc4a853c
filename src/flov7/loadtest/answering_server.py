"""A minimal HTTP/1.1 server on 127.0.0.1 that answers every request at once.

The built-in load-test workflow calls it, so that a load test measures Flov7 and
Temporal rather than a remote service. It is written on :func:`asyncio.start_server`
(keep-alive, ``Content-Length`` bodies) to cost as little CPU as possible in the
process it shares with the load generator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from types import TracebackType
from typing import Self

__all__ = ["ANSWER", "AnsweringServer"]

ANSWER = {"ok": True, "value": 42}
"""The JSON body of every answer."""

_BODY = json.dumps(ANSWER).encode()
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_BODY)}\r\n\r\n".encode()
    + _BODY
)
_MAX_HEAD_BYTES = 64 * 1024
_CLIENT_GONE = (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError)


class AnsweringServer:
    """``async with AnsweringServer() as server: server.url`` (``http://127.0.0.1:PORT``)."""

    def __init__(self, port: int = 0) -> None:
        """``port``: where to listen on 127.0.0.1 (0: a free port, see :attr:`port`)."""
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.requests = 0
        """Requests answered so far."""

    @property
    def port(self) -> int:
        """The port it listens on (once started)."""
        if self._server is None:
            raise RuntimeError("the answering server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def allowlist_entry(self) -> str:
        """The ``FLOV7_OUTBOUND_ALLOWLIST`` entry a worker needs to reach it."""
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self._requested_port, limit=_MAX_HEAD_BYTES
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            # Closing each connection ends its handler (its next read sees the end).
            for writer in self._connections.values():
                writer.close()
            if self._connections:
                await asyncio.wait(list(self._connections), timeout=5)
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections[task] = writer
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                close = False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value.strip() or b"0")
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                writer.write(_RESPONSE)
                await writer.drain()
                if close:
                    break
        except _CLIENT_GONE:
            pass  # the client went away, or sent something this server does not speak
        finally:
            if task is not None:
                self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
