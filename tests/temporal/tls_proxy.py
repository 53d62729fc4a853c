"""A TLS-terminating TCP proxy in front of the dev server (which speaks plain gRPC only).

``temporal server start-dev`` has no TLS options, so the tests put this in front of
it: TLS (HTTP/2 by ALPN, as gRPC needs) on 127.0.0.1, the decrypted bytes forwarded
to the dev server's port. With ``client_ca`` it demands a client certificate signed by
that CA (mTLS), as a production frontend configured for mTLS does.

It also reads the HTTP/2 request headers going through (:class:`HeaderSniffer`), so a
test can see what a client really sent over TLS (an API key's ``authorization``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path
from types import TracebackType

import hpack

__all__ = ["HeaderSniffer", "TlsProxy"]

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HEADERS, _CONTINUATION = 0x1, 0x9
_PADDED, _PRIORITY, _END_HEADERS = 0x8, 0x20, 0x4


class HeaderSniffer:
    """Decodes the request headers of a client-to-server HTTP/2 byte stream."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        self._buffer = b""
        self._decoder = hpack.Decoder()
        self._block = b""
        self._preface_seen = False

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if not self._preface_seen:
            if len(self._buffer) < len(_PREFACE):
                return
            self._buffer = self._buffer[len(_PREFACE) :]
            self._preface_seen = True
        while len(self._buffer) >= 9:
            length = int.from_bytes(self._buffer[:3], "big")
            kind, flags = self._buffer[3], self._buffer[4]
            if len(self._buffer) < 9 + length:
                return
            payload = self._buffer[9 : 9 + length]
            self._buffer = self._buffer[9 + length :]
            if kind == _HEADERS:
                padding = payload[0] if flags & _PADDED else 0
                payload = payload[1:] if flags & _PADDED else payload
                payload = payload[5:] if flags & _PRIORITY else payload
                self._block = payload[: len(payload) - padding]
            elif kind == _CONTINUATION:
                self._block += payload
            else:
                continue
            if flags & _END_HEADERS:
                decoded = self._decoder.decode(self._block)
                self.headers.append({str(k): str(v) for k, v in decoded})
                self._block = b""


class TlsProxy:
    """``async with TlsProxy(upstream_port, cert, key) as proxy``: ``proxy.port``."""

    def __init__(
        self,
        upstream: str,
        cert_chain: Path,
        key: Path,
        *,
        client_ca: Path | None = None,
    ) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream_host, self.upstream_port = host, int(port)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_chain, key)
        context.set_alpn_protocols(["h2"])
        if client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca)
        self.context = context
        self.port = 0
        self.sniffers: list[HeaderSniffer] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> TlsProxy:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", 0, ssl=self.context, ssl_handshake_timeout=10
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._server.wait_closed()

    @property
    def target(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
            sniffer = HeaderSniffer()
            self.sniffers.append(sniffer)
            await asyncio.gather(
                self._pipe(reader, up_writer, sniffer), self._pipe(up_reader, writer)
            )
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """The headers of every request that went through, in order."""
        return [headers for sniffer in self.sniffers for headers in sniffer.headers]

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        sniffer: HeaderSniffer | None = None,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if sniffer is not None:
                    sniffer.feed(data)
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()
