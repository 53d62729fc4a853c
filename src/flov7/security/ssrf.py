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

The :class:`OutboundPolicy` allows, besides public addresses, what the operator lists:
:class:`HostRule` s (a host name, ``*.domain``, an IP address or CIDR, each optionally
with a ``:port``) and exact :class:`Origin` s (scheme, host and port: what the
``ai_agent`` node's client gets for its configured LLM endpoint). An origin is matched
with the scheme of the connection being opened: each scheme has its own backend.

Refusals raise :class:`OutboundBlockedError`, a non-retryable
:class:`~flov7.errors.NodeExecutionError`: retrying a policy decision cannot help.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final, NamedTuple

import anyio
import httpcore
import httpx

from flov7.errors import NodeExecutionError

__all__ = [
    "ALLOWLIST_VARIABLE",
    "DEFAULT_PORTS",
    "GuardedNetworkBackend",
    "GuardedTransport",
    "HostRule",
    "IPAddress",
    "Origin",
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
DEFAULT_PORTS: Final = {"http": 80, "https": 443}

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


_ENTRY_FORMS: Final = (
    "is neither a hostname, a '*.domain' wildcard, an IP address nor a CIDR "
    "(each optionally followed by :port)"
)


@dataclass(frozen=True)
class HostRule:
    """One allow-list entry: which host (or addresses) and, optionally, which port.

    Written as ``host``, ``*.domain`` (any subdomain, not the domain itself), an IP
    address or a CIDR, optionally followed by ``:port``; an IPv6 address or network
    takes brackets before a port (``[::1]:8080``, ``[fd00::/8]:5432``). Without a port
    the entry covers every port. Exactly one of ``name``, ``suffix`` and ``network`` is
    set; an IP address is a network of one address.
    """

    name: str | None = None
    suffix: str | None = None
    """``".internal"`` for ``*.internal``."""
    network: IPNetwork | None = None
    port: int | None = None

    @classmethod
    def parse(cls, raw: str, *, networks: bool = True) -> HostRule:
        """The rule written as ``raw``; ValueError (quoting ``raw``) when malformed.

        ``networks=False`` refuses CIDRs of more than one address (credentials are
        bound to hosts, not to networks).
        """
        text = raw.strip().lower()
        if "://" in text:
            raise ValueError(f"{raw!r} {_ENTRY_FORMS}")  # a URL
        host, port = _split_port(text, raw)
        host = host.rstrip(".")
        network = _parse_network(host)
        if network is not None:
            if text.startswith("[") and network.version != 6:
                raise ValueError(f"{raw!r} {_ENTRY_FORMS}")  # [10.0.0.1]:80
            if not networks and network.num_addresses > 1:
                raise ValueError(
                    f"{raw!r} is a network: list host names or single IP addresses here"
                )
            return cls(network=network, port=port)
        if text.startswith("["):
            raise ValueError(f"{raw!r} {_ENTRY_FORMS}")  # [api.internal]:80
        if host.startswith("*.") and is_hostname(host[2:]):
            return cls(suffix=host[1:], port=port)  # keep the dot: "*.x" -> ".x"
        if is_hostname(host):
            return cls(name=host, port=port)
        raise ValueError(f"{raw!r} {_ENTRY_FORMS}")

    def __str__(self) -> str:
        if self.name is not None:
            host = self.name
        elif self.suffix is not None:
            host = "*" + self.suffix
        else:
            assert self.network is not None
            single = self.network.num_addresses == 1
            host = str(self.network.network_address) if single else str(self.network)
            if self.port is not None and self.network.version == 6:
                host = f"[{host}]"
        return host if self.port is None else f"{host}:{self.port}"

    def covers_port(self, port: int | None) -> bool:
        """True when the rule has no port, or ``port`` is its port."""
        return self.port is None or self.port == port

    def matches_name(self, host: str, port: int | None = None) -> bool:
        """True when ``host`` (a normalised name) is this name or under this wildcard.

        An IP literal is no name: ``*.0.0.1`` does not match ``127.0.0.1``.
        """
        if not self.covers_port(port) or _ip_literal(host) is not None:
            return False
        if self.name is not None:
            return host == self.name
        return self.suffix is not None and host.endswith(self.suffix)

    def matches_address(self, address: IPAddress, port: int | None = None) -> bool:
        """True when ``address`` is in this rule's network (and the port fits)."""
        return self.network is not None and self.covers_port(port) and address in self.network

    def matches_url_host(self, host: str, port: int) -> bool:
        """True when a URL's host (a name or an IP literal, not resolved) fits the rule."""
        host = _normalise_host(host)
        address = _ip_literal(host)
        if address is None:
            return self.matches_name(host, port)
        return self.matches_address(address, port)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _split_port(text: str, raw: str) -> tuple[str, int | None]:
    """``host[:port]`` and ``[v6][:port]`` into host and port; bare IPv6: no port."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise ValueError(f"{raw!r} {_ENTRY_FORMS}")
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError(f"{raw!r} has an invalid port (expected [address]:port)")
        return host, _parse_port(rest[1:], raw)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _parse_port(port, raw)
    return text, None  # a name, an IPv4 address or network, or a bare IPv6 one


def _parse_port(text: str, raw: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ValueError(f"{raw!r} has an invalid port (a number from 1 to 65535)")
    return int(text)


class Origin(NamedTuple):
    """Scheme, host and port of a URL (the port filled in from the scheme)."""

    scheme: str
    host: str
    """Normalised: lower case, no brackets, no trailing dot; IDNA-encoded."""
    port: int

    @classmethod
    def of(cls, url: httpx.URL | str) -> Origin:
        """The origin of an http(s) URL; ValueError for anything else."""
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url.strip())
        except httpx.InvalidURL as exc:
            raise ValueError(f"invalid URL: {exc}") from None
        if parsed.scheme not in ALLOWED_SCHEMES or not parsed.host:
            raise ValueError("must be an http(s) URL with a host")
        host = _normalise_host(parsed.raw_host.decode("ascii"))
        return cls(parsed.scheme, host, parsed.port or DEFAULT_PORTS[parsed.scheme])

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class OutboundPolicy:
    """Which destinations are reachable: public addresses, plus what is allowed explicitly.

    - ``rules``: allow-list entries (:class:`HostRule`). A name rule (``api.internal``,
      ``*.internal``) trusts whatever that name resolves to; a network rule
      (``10.0.0.0/8``, ``127.0.0.1``) trusts those addresses under any name. A rule with
      a port applies to that port only.
    - ``origins``: exact origins (scheme, host, port) whose host is trusted for
      connections of that scheme to that port only.
    """

    rules: tuple[HostRule, ...] = ()
    origins: frozenset[Origin] = field(default_factory=frozenset)

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> OutboundPolicy:
        """Build a policy from allow-list entries; raise ValueError on a malformed one."""
        return cls(rules=tuple(HostRule.parse(entry) for entry in entries if entry.strip()))

    def with_origins(self, urls: Iterable[str | httpx.URL]) -> OutboundPolicy:
        """This policy, also allowing the exact origins of ``urls`` (ValueError if not http(s))."""
        added = frozenset(Origin.of(url) for url in urls)
        return OutboundPolicy(rules=self.rules, origins=self.origins | added)

    def allows_host(self, host: str, port: int | None = None, scheme: str | None = None) -> bool:
        """True when ``host`` is allowed by name (then any address it resolves to is).

        ``port``/``scheme`` None: unknown, so only rules without a port (and no origin)
        can match.
        """
        name = _normalise_host(host)
        if any(rule.matches_name(name, port) for rule in self.rules):
            return True
        if scheme is None or port is None:
            return False
        return Origin(scheme, name, port) in self.origins

    def refusal(
        self, host: str, address: IPAddress, port: int | None = None, *, scheme: str | None = None
    ) -> str | None:
        """Why connecting to ``address`` (from ``host``) on ``port`` is refused, or None."""
        if self.allows_host(host, port, scheme):
            return None
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # An allow-listed 127.0.0.1 also allows ::ffff:127.0.0.1 (the same socket).
            candidates.append(address.ipv4_mapped)
        for candidate in candidates:
            if any(rule.matches_address(candidate, port) for rule in self.rules):
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

    def __init__(
        self,
        host: str,
        address: str | None,
        reason: str,
        url: str | None = None,
        port: int | None = None,
    ) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        self.url = url
        self.port = port
        if address is None:
            message = f"Refused {url or host}: {reason}"
        else:
            where = f"{host}:{port}" if port is not None else host
            target = f" for {url}" if url else f" (host {where})"
            message = (
                f"Refused to connect to {address} ({reason}){target}: outbound requests to "
                "private networks are blocked; add the host, host:port or a CIDR to "
                f"{ALLOWLIST_VARIABLE} to allow it"
            )
        super().__init__(
            message,
            error_type="OutboundBlocked",
            retryable=False,
            details={
                "host": host,
                "port": port,
                "address": address,
                "reason": reason,
                "url": url,
            },
        )

    @classmethod
    def unsupported_scheme(cls, url: httpx.URL) -> OutboundBlockedError:
        """The refusal of a URL whose scheme is not http or https."""
        reason = f"only http and https URLs are allowed, not '{url.scheme}'"
        return cls(url.host, None, reason, display_url(url), url.port)

    def for_url(self, url: httpx.URL) -> OutboundBlockedError:
        """The same refusal, naming the URL being requested (known to the transport only)."""
        return OutboundBlockedError(
            self.host, self.address, self.reason, display_url(url), self.port
        )


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
        scheme: str | None = None,
    ) -> None:
        self.policy = policy
        self.scheme = scheme
        """The scheme of the connections this backend opens, for the policy's origins
        (None: unknown, so no origin applies)."""
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
            reason = self.policy.refusal(name, address, port, scheme=self.scheme)
            if reason is None:
                allowed.append(str(address))
            elif first_refusal is None:
                first_refusal = (str(address), reason)
        if not allowed:
            assert first_refusal is not None  # _resolved never returns an empty list
            raise OutboundBlockedError(name, *first_refusal, port=port)
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


class _GuardedConnectionPool(httpcore.AsyncConnectionPool):
    """A pool whose connections each use the guarded backend of their origin's scheme.

    ``httpcore`` tells a network backend the host and port to connect to, not the scheme;
    picking the backend per connection (``create_connection``, httpcore's hook for this)
    lets the policy match an origin's scheme too. Should a connection ever be created
    another way, it gets ``fallback``, whose policy check has no scheme: no origin applies
    (fail closed).
    """

    def __init__(
        self,
        backends: Mapping[str, GuardedNetworkBackend],
        fallback: GuardedNetworkBackend,
        *,
        ssl_context: ssl.SSLContext,
        limits: httpx.Limits,
    ) -> None:
        super().__init__(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=fallback,
        )
        self._backends = dict(backends)
        self._fallback = fallback
        self._tls = ssl_context
        self._expiry = limits.keepalive_expiry

    def create_connection(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        """A plain HTTP/1.1 connection for ``origin`` over its scheme's guarded backend."""
        scheme = origin.scheme.decode("ascii")
        return httpcore.AsyncHTTPConnection(
            origin=origin,
            ssl_context=self._tls,
            keepalive_expiry=self._expiry,
            network_backend=self._backends.get(scheme, self._fallback),
        )


class GuardedTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport: a connection pool over :class:`GuardedNetworkBackend` s.

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
        self._pool = _GuardedConnectionPool(
            {
                scheme: GuardedNetworkBackend(policy, resolver=resolver, scheme=scheme)
                for scheme in ALLOWED_SCHEMES
            },
            GuardedNetworkBackend(policy, resolver=resolver),
            ssl_context=ssl_context,
            limits=limits,
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
