"""The outbound-request guard: keeps workflow HTTP calls away from private networks.

A workflow author chooses the URLs of ``api_call``, ``webhook`` and ``ai_agent`` nodes,
so without a guard any author could reach the worker's own network: the cloud metadata
endpoint (169.254.169.254), a database on 10.0.0.5, an admin port on 127.0.0.1.

Checking the URL's host before sending is not enough: a hostname can resolve to
127.0.0.1, a redirect can point anywhere, and DNS can answer differently between a check
and the connection (rebinding). So the check lives at the connection level, inside the
HTTP client:

- :class:`GuardedNetworkBackend` (an ``httpcore`` network backend) resolves the host
  itself, checks every resolved address against the :class:`OutboundPolicy`, and opens
  the TCP connection to an address it checked. There is no second lookup to race.
  TLS still uses the hostname (SNI and certificate check): ``httpcore`` starts TLS on the
  returned stream with the request's host, not with the IP we connected to.
- :class:`GuardedTransport` (an ``httpx`` transport) puts that backend under a
  connection pool and refuses non-http(s) schemes. Every request goes through it,
  redirect hops included, since ``httpx`` sends each hop as a new request.

Refusals raise :class:`OutboundBlockedError`, a non-retryable
:class:`~flov7.errors.NodeExecutionError`: retrying a policy decision cannot help.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import anyio
import httpcore
import httpx

from flov7.errors import NodeExecutionError

__all__ = [
    "ALLOWLIST_VARIABLE",
    "GuardedNetworkBackend",
    "GuardedTransport",
    "IPAddress",
    "OutboundBlockedError",
    "OutboundPolicy",
    "Resolver",
    "blocked_reason",
    "display_url",
    "is_hostname",
    "resolve_host",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses``: how the backend turns a hostname into IPs."""

ALLOWLIST_VARIABLE: Final = "FLOV7_OUTBOUND_ALLOWLIST"
ALLOWED_SCHEMES: Final = frozenset({"http", "https"})

# Cloud metadata services: link-local (AWS, GCP, Azure, ...) or, for AWS over IPv6, a
# unique-local address. Named in refusals because it is the classic SSRF target.
_METADATA_ADDRESSES: Final = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
# Forms whose traffic is delivered to the embedded IPv4 address itself.
_TRANSLATED_FORMS: Final = frozenset({"IPv4-mapped", "NAT64"})
# NAT64 (RFC 6052): the last 32 bits are an IPv4 address, reachable through a gateway.
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public destination (e.g. ``"loopback address"``), or None.

    IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64
    ``64:ff9b::a.b.c.d``, 6to4 ``2002::/16``, Teredo) are judged by that IPv4 address too.
    """
    if isinstance(address, ipaddress.IPv6Address):
        for form, embedded in _embedded_ipv4(address):
            reason = blocked_reason(embedded)
            if reason is not None:
                return f"{reason} {embedded} in {form} form"
            if form in _TRANSLATED_FORMS:
                # The packets go to the IPv4 address (a dual-stack socket, a NAT64
                # gateway), which is public: judge by it alone.
                return None
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return "loopback address"
    if address in _METADATA_ADDRESSES:
        return "cloud metadata address"
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local address"
    if address.is_private:
        return "private address"
    if address.is_reserved:
        return "reserved address"
    if not address.is_global:
        # What remains: shared address space (100.64.0.0/10, carrier-grade NAT) and
        # other special-purpose ranges that are not private yet not on the internet.
        return "non-public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> Iterator[tuple[str, ipaddress.IPv4Address]]:
    if address.ipv4_mapped is not None:
        yield "IPv4-mapped", address.ipv4_mapped
    if address in _NAT64:
        yield "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        yield "6to4", address.sixtofour
    if address.teredo is not None:
        yield "Teredo", address.teredo[1]


def _normalise_host(host: str) -> str:
    """Lower case, no trailing dot, no IPv6 brackets: the form allow-list entries use."""
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class OutboundPolicy:
    """Which destinations are reachable: public addresses, plus an explicit allow-list.

    Allow-list entries are hostnames (``api.internal``), wildcard domains
    (``*.internal``: any subdomain) or IP addresses / CIDRs (``10.0.0.0/8``,
    ``fd00::/8``). A host entry trusts whatever that name resolves to; a CIDR entry
    trusts those addresses under any name.
    """

    hosts: frozenset[str] = frozenset()
    domain_suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> OutboundPolicy:
        """Build a policy from allow-list entries; raise ValueError on a malformed one."""
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = _normalise_host(raw)
            if not entry:
                continue
            network = _parse_network(entry)
            if network is not None:
                networks.append(network)
            elif entry.startswith("*.") and is_hostname(entry[2:]):
                suffixes.append(entry[1:])  # keep the dot: "*.internal" -> ".internal"
            elif is_hostname(entry):
                hosts.add(entry)
            else:
                raise ValueError(
                    f"{raw!r} is neither a hostname, a '*.domain' wildcard, an IP address "
                    "nor a CIDR"
                )
        return cls(
            hosts=frozenset(hosts), domain_suffixes=tuple(suffixes), networks=tuple(networks)
        )

    def allows_host(self, host: str) -> bool:
        """True when ``host`` is allow-listed by name (then any address it resolves to is)."""
        name = _normalise_host(host)
        return name in self.hosts or name.endswith(self.domain_suffixes)

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why connecting to ``address`` (resolved from ``host``) is refused, or None."""
        if self.allows_host(host):
            return None
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # An allow-listed 127.0.0.1 also allows ::ffff:127.0.0.1 (the same socket).
            candidates.append(address.ipv4_mapped)
        for candidate in candidates:
            if any(candidate in network for network in self.networks):
                return None
        return blocked_reason(address)


def _parse_network(entry: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


def is_hostname(name: str) -> bool:
    """True for a syntactically valid DNS name (ASCII/punycode labels, ``_`` tolerated)."""
    labels = name.split(".")
    return 0 < len(name) <= 253 and all(
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(char.isalnum() or char in "-_" for char in label)
        for label in labels
    )


class OutboundBlockedError(NodeExecutionError):
    """A destination refused by the guard (non-retryable, ``error_type="OutboundBlocked"``).

    ``address`` is the refused IP, or None when the URL itself is refused (its scheme).
    """

    def __init__(self, host: str, address: str | None, reason: str, url: str | None = None) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        self.url = url
        if address is None:
            message = f"Refused {url or host}: {reason}"
        else:
            target = f" for {url}" if url else f" (host {host})"
            message = (
                f"Refused to connect to {address} ({reason}){target}: outbound requests to "
                "private networks are blocked; add the host or a CIDR to "
                f"{ALLOWLIST_VARIABLE} to allow it"
            )
        super().__init__(
            message,
            error_type="OutboundBlocked",
            retryable=False,
            details={"host": host, "address": address, "reason": reason, "url": url},
        )

    @classmethod
    def unsupported_scheme(cls, url: httpx.URL) -> OutboundBlockedError:
        """The refusal of a URL whose scheme is not http or https."""
        reason = f"only http and https URLs are allowed, not '{url.scheme}'"
        return cls(url.host, None, reason, display_url(url))

    def for_url(self, url: httpx.URL) -> OutboundBlockedError:
        """The same refusal, naming the URL being requested (known to the transport only)."""
        return OutboundBlockedError(self.host, self.address, self.reason, display_url(url))


def display_url(url: httpx.URL) -> str:
    """``url`` without its user-info part (``user:password@``), for messages."""
    return str(url.copy_with(userinfo=b"")) if url.userinfo else str(url)


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (system resolver), in resolver order, deduplicated."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """An ``httpcore`` backend that connects only to addresses the policy allows.

    Resolution happens here, once per connection; the TCP connection goes to a checked
    IP literal, so the inner backend never resolves the name again.
    """

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        resolver: Resolver = resolve_host,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self._resolve = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve ``host``, refuse it if no address is allowed, connect to an allowed one."""
        name = _normalise_host(host)
        addresses = await self._resolved(name, port, timeout)
        allowed: list[str] = []
        first_refusal: tuple[str, str] | None = None
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
            reason = self.policy.refusal(name, address)
            if reason is None:
                allowed.append(str(address))
            elif first_refusal is None:
                first_refusal = (str(address), reason)
        if not allowed:
            assert first_refusal is not None  # _resolved never returns an empty list
            raise OutboundBlockedError(name, *first_refusal)
        # Refused addresses are skipped, never tried: a name with one public and one
        # private record still cannot lead to the private one.
        last_error: Exception | None = None
        for address_text in allowed:
            try:
                return await self._inner.connect_tcp(
                    address_text,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def _resolved(self, host: str, port: int, limit: float | None) -> list[str]:
        try:
            # The connect timeout covers the lookup too: a stuck resolver is a stuck connect.
            with anyio.fail_after(limit):
                addresses = await self._resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"Resolving {host} timed out") from exc
        except OSError as exc:  # socket.gaierror: unknown host, resolver down
            raise httpcore.ConnectError(f"Could not resolve host {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"Host {host} resolved to no address")
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Refused: a Unix socket is a local resource by definition."""
        raise OutboundBlockedError(path, path, "Unix socket")

    async def sleep(self, seconds: float) -> None:
        """Delegated to the inner backend (used by connection retries)."""
        await self._inner.sleep(seconds)


# httpcore raises its own exception classes; httpx users (and our nodes) expect httpx's.
# The same mapping httpx's default transport applies, most specific classes first.
_ERROR_MAP: Final[tuple[tuple[type[Exception], type[httpx.TransportError]], ...]] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core_error, httpx_error in _ERROR_MAP:
            if isinstance(exc, core_error):
                raise httpx_error(str(exc)) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    """An ``httpcore`` response body as an ``httpx`` stream (errors mapped to httpx's)."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            with _httpx_errors():
                await aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport: a connection pool over a :class:`GuardedNetworkBackend`.

    Use it as ``httpx.AsyncClient(transport=GuardedTransport(policy), trust_env=False)``:
    with ``trust_env`` on, ``httpx`` would route requests through the environment's
    proxies, and the address checked would be the proxy's, not the destination's.

    ``verify`` is True (system/certifi roots), False, or an ``ssl.SSLContext``.
    """

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        limits: httpx.Limits | None = None,
        verify: ssl.SSLContext | bool = True,
        resolver: Resolver = resolve_host,
    ) -> None:
        limits = limits or httpx.Limits()
        self.policy = policy
        ssl_context = (
            verify
            if isinstance(verify, ssl.SSLContext)
            else httpx.create_ssl_context(verify=verify)
        )
        # httpx's own AsyncHTTPTransport offers no way to pass a network backend, so this
        # transport owns the httpcore pool (public httpcore API) instead of patching one.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(policy, resolver=resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request (one redirect hop) through the guarded pool."""
        if request.url.scheme not in ALLOWED_SCHEMES:
            raise OutboundBlockedError.unsupported_scheme(request.url)
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            with _httpx_errors():
                response = await self._pool.handle_async_request(core_request)
        except OutboundBlockedError as exc:
            raise exc.for_url(request.url) from None
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._pool.aclose()
