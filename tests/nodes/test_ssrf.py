"""The SSRF guard: address rules, the allow-list, and refusals on real connections."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import trustme

from flov7.config import load_settings
from flov7.errors import NodeExecutionError
from flov7.nodes.api_call import ApiCallConfig, api_call_node
from flov7.nodes.base import ActivityContext
from flov7.nodes.resources import NodeResources, node_resources
from flov7.nodes.settings import NodeSettings
from flov7.nodes.webhook import WebhookConfig, webhook_node
from flov7.security import GuardedTransport, OutboundBlockedError, OutboundPolicy, blocked_reason
from nodes.db_fixtures import closed_port
from nodes.http_servers import TestHttpServer

MakeContext = Callable[..., ActivityContext]
MakeSettings = Callable[..., NodeSettings]

HINT = (
    ": outbound requests to private networks are blocked; add the host, host:port or a "
    "CIDR to FLOV7_OUTBOUND_ALLOWLIST to allow it"
)


async def call(
    resources: NodeResources, make_context: MakeContext, **config: Any
) -> dict[str, Any]:
    parsed = api_call_node.parse_config(config)
    assert isinstance(parsed, ApiCallConfig)
    output = await api_call_node.execute(parsed, make_context(resources))
    assert isinstance(output, dict)
    return output


async def refused(
    resources: NodeResources, make_context: MakeContext, **config: Any
) -> NodeExecutionError:
    """Run an api_call that the guard must refuse; return the error."""
    with pytest.raises(NodeExecutionError) as caught:
        await call(resources, make_context, **config)
    error = caught.value
    assert error.error_type == "OutboundBlocked", error.message
    assert error.retryable is False
    return error


# --- Address rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback address"),
        ("127.255.0.9", "loopback address"),
        ("10.1.2.3", "private address"),
        ("172.16.0.1", "private address"),
        ("192.168.1.1", "private address"),
        ("169.254.169.254", "cloud metadata address"),
        ("169.254.10.1", "link-local address"),
        ("224.0.0.1", "multicast address"),
        ("239.255.255.250", "multicast address"),
        ("0.0.0.0", "unspecified address"),
        ("0.1.2.3", "private address"),
        ("240.0.0.1", "private address"),
        ("255.255.255.255", "private address"),
        ("100.64.0.1", "non-public address"),
        ("192.0.2.1", "private address"),
        ("::1", "loopback address"),
        ("::", "unspecified address"),
        ("fe80::1", "link-local address"),
        ("fc00::1", "private address"),
        ("fd00:ec2::254", "cloud metadata address"),
        ("ff02::1", "multicast address"),
        ("fec0::1", "site-local address"),
        ("::ffff:127.0.0.1", "loopback address 127.0.0.1 in IPv4-mapped form"),
        ("::ffff:10.0.0.1", "private address 10.0.0.1 in IPv4-mapped form"),
        (
            "::ffff:169.254.169.254",
            "cloud metadata address 169.254.169.254 in IPv4-mapped form",
        ),
        ("64:ff9b::7f00:1", "loopback address 127.0.0.1 in NAT64 form"),
        ("2002:7f00:1::", "loopback address 127.0.0.1 in 6to4 form"),
        ("2002:a00:1::", "private address 10.0.0.1 in 6to4 form"),
    ],
)
def test_blocked_addresses(address: str, reason: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_policy_entries() -> None:
    policy = OutboundPolicy.from_entries(
        ["127.0.0.1", " 10.0.0.0/8 ", "API.Internal.", "*.svc.local", "fd00::/8", ""]
    )
    loopback = ipaddress.ip_address("127.0.0.1")
    assert policy.refusal("anything", loopback) is None
    assert policy.refusal("x", ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert policy.refusal("x", ipaddress.ip_address("10.20.30.40")) is None
    assert policy.refusal("x", ipaddress.ip_address("fd00::5")) is None
    assert policy.refusal("x", ipaddress.ip_address("127.0.0.2")) == "loopback address"
    assert policy.refusal("x", ipaddress.ip_address("192.168.0.1")) == "private address"
    # Names: exact (any case, trailing dot) and wildcard subdomains, any address.
    private = ipaddress.ip_address("192.168.0.1")
    assert policy.refusal("api.internal", private) is None
    assert policy.refusal("API.INTERNAL.", private) is None
    assert policy.refusal("db.svc.local", private) is None
    assert policy.refusal("svc.local", private) == "private address"
    assert policy.refusal("other.internal", private) == "private address"


def test_policy_entries_with_ports() -> None:
    policy = OutboundPolicy.from_entries(
        [
            "127.0.0.1:8080",
            "api.internal:8443",
            "*.svc.local:5432",
            "10.0.0.0/8:6379",
            "[::1]:9000",
            "[fd00::/8]:53",
            "::2",  # a bare IPv6 address: every port (a port needs brackets)
        ]
    )
    loopback = ipaddress.ip_address("127.0.0.1")
    private = ipaddress.ip_address("192.168.0.1")
    assert policy.refusal("x", loopback, 8080) is None
    assert policy.refusal("x", ipaddress.ip_address("::ffff:127.0.0.1"), 8080) is None
    assert policy.refusal("x", loopback, 8081) == "loopback address"
    assert policy.refusal("x", loopback) == "loopback address"  # port unknown: no match
    assert policy.refusal("api.internal", private, 8443) is None
    assert policy.refusal("api.internal", private, 443) == "private address"
    assert policy.refusal("db.svc.local", private, 5432) is None
    assert policy.refusal("db.svc.local", private, 5433) == "private address"
    assert policy.refusal("x", ipaddress.ip_address("10.9.8.7"), 6379) is None
    assert policy.refusal("x", ipaddress.ip_address("10.9.8.7"), 22) == "private address"
    assert policy.refusal("x", ipaddress.ip_address("::1"), 9000) is None
    assert policy.refusal("x", ipaddress.ip_address("::1"), 9001) == "loopback address"
    assert policy.refusal("x", ipaddress.ip_address("fd00::5"), 53) is None
    assert policy.refusal("x", ipaddress.ip_address("fd00::5"), 54) == "private address"
    assert policy.refusal("x", ipaddress.ip_address("::2"), 1) is None
    assert policy.allows_host("api.internal", 8443)
    assert not policy.allows_host("api.internal", 443)
    assert not policy.allows_host("api.internal")


def test_policy_entries_print_in_their_canonical_form() -> None:
    policy = OutboundPolicy.from_entries(
        ["API.Internal.:80", "*.Svc.Local", "10.0.0.0/8:5432", "[::1]:9000", "::1", "127.0.0.1"]
    )
    assert [str(rule) for rule in policy.rules] == [
        "api.internal:80",
        "*.svc.local",
        "10.0.0.0/8:5432",
        "[::1]:9000",
        "::1",
        "127.0.0.1",
    ]


@pytest.mark.parametrize(
    "entry",
    ["not a host", "10.0.0.0/33", "http://x", "a..b", "-x.com", "[api.internal]:80", "x:y:z"],
)
def test_invalid_policy_entries(entry: str) -> None:
    with pytest.raises(ValueError, match="neither a hostname"):
        OutboundPolicy.from_entries([entry])


@pytest.mark.parametrize(
    "entry", ["localhost:0", "localhost:65536", "localhost:", "localhost:http", "[::1]:", "[::1]x"]
)
def test_invalid_ports(entry: str) -> None:
    with pytest.raises(ValueError, match=r"port"):
        OutboundPolicy.from_entries([entry])


# --- Refusals on real requests (no allow-list) ----------------------------------------------


async def test_loopback_refused_without_an_allow_list(
    guarded_resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    marker = uuid.uuid4().hex
    url = http_server.url_for(f"/echo?m={marker}")
    error = await refused(guarded_resources, make_context, url=url)

    assert error.message == (f"Refused to connect to 127.0.0.1 (loopback address) for {url}{HINT}")
    assert not [r for r in http_server.requests if r.query.get("m") == [marker]]


async def test_hostname_resolving_to_loopback_is_refused(
    guarded_resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    url = f"http://localhost:{http_server.port}/json"
    error = await refused(guarded_resources, make_context, url=url)
    assert error.message.startswith("Refused to connect to ")
    assert "(loopback address) for " + url in error.message
    assert error.details["host"] == "localhost"
    assert error.details["address"] in ("127.0.0.1", "::1")


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("[::1]", "loopback address"),
        ("[::ffff:127.0.0.1]", "loopback address 127.0.0.1 in IPv4-mapped form"),
        ("[::ffff:7f00:1]", "loopback address 127.0.0.1 in IPv4-mapped form"),
        ("[64:ff9b::7f00:1]", "loopback address 127.0.0.1 in NAT64 form"),
        ("[fe80::1]", "link-local address"),
        ("2130706433", "loopback address"),  # 127.0.0.1 as one decimal number
        ("0x7f.1", "loopback address"),  # ...and in inet_aton's shorthand
        ("0.0.0.0", "unspecified address"),
        ("10.0.0.1", "private address"),
        ("172.16.5.4", "private address"),
        ("192.168.0.10", "private address"),
        ("169.254.169.254", "cloud metadata address"),
        ("224.0.0.251", "multicast address"),
    ],
)
async def test_private_destinations_are_refused(
    host: str, reason: str, guarded_resources: NodeResources, make_context: MakeContext
) -> None:
    error = await refused(guarded_resources, make_context, url=f"http://{host}:8080/x")
    assert f"({reason}) for http://" in error.message
    assert error.message.endswith(HINT)


async def test_webhook_is_guarded_too(
    guarded_resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    parsed = webhook_node.parse_config({"url": http_server.url_for("/webhook"), "payload": {}})
    assert isinstance(parsed, WebhookConfig)
    with pytest.raises(NodeExecutionError) as caught:
        await webhook_node.execute(parsed, make_context(guarded_resources))
    assert caught.value.error_type == "OutboundBlocked"
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    "url", ["ftp://example.com/file", "file:///etc/passwd", "gopher://127.0.0.1:70/"]
)
async def test_non_http_schemes_are_refused(
    url: str, resources: NodeResources, make_context: MakeContext
) -> None:
    error = await refused(resources, make_context, url=url)
    assert "only http and https URLs are allowed" in error.message


# --- Redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata address"),
        ("http://127.0.0.2:{port}/json", "loopback address"),
        ("http://[::1]:{port}/json", "loopback address"),
        ("http://10.0.0.1/admin", "private address"),
    ],
)
async def test_redirect_to_a_blocked_address_is_refused(
    target: str,
    reason: str,
    resources: NodeResources,
    make_context: MakeContext,
    http_server: TestHttpServer,
) -> None:
    # 127.0.0.1 is allow-listed; the hop it redirects to is not.
    hop = target.format(port=http_server.port)
    error = await refused(
        resources, make_context, url=http_server.url_for("/redirect"), query={"to": hop}
    )
    assert f"({reason}) for {hop}{HINT}" in error.message


async def test_redirect_to_a_non_http_scheme_is_refused(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await refused(
        resources,
        make_context,
        url=http_server.url_for("/redirect"),
        query={"to": "file:///etc/passwd"},
    )
    # httpx fills in the host of a host-less Location from the previous hop.
    assert error.message.startswith("Refused file://")
    assert error.message.endswith("/etc/passwd: only http and https URLs are allowed, not 'file'")


# --- The allow-list opens what a deployment needs -------------------------------------------


@pytest.mark.parametrize("allowlist", ["localhost", "127.0.0.0/8", "127.0.0.1/32", "::1,localhost"])
async def test_allow_list_by_host_or_cidr(
    allowlist: str,
    make_settings: MakeSettings,
    make_context: MakeContext,
    http_server: TestHttpServer,
) -> None:
    url = f"http://localhost:{http_server.port}/json"
    async with NodeResources.open(make_settings(outbound_allowlist=allowlist)) as resources:
        output = await call(resources, make_context, url=url)
    assert output["body"] == {"hello": "world", "items": [1, 2, 3]}


async def test_allow_listed_host_does_not_open_other_names(
    make_settings: MakeSettings, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    async with NodeResources.open(make_settings(outbound_allowlist="localhost")) as resources:
        await refused(resources, make_context, url=http_server.url_for("/json"))  # 127.0.0.1


async def test_llm_endpoints_do_not_open_their_hosts_to_other_nodes(
    make_settings: MakeSettings, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    # A documented Ollama setup (FLOV7_LLM_BASE_URL=http://127.0.0.1:11434/v1) must not
    # let api_call or webhook reach the rest of 127.0.0.1 (Flov7's API, Temporal's ports),
    # nor the LLM endpoint itself: only the ai_agent node talks to it.
    settings = make_settings(
        outbound_allowlist="",
        llm_base_url=f"http://127.0.0.1:{closed_port()}/v1",
        credentials={
            "local_llm": {"type": "llm", "base_url": f"http://localhost:{http_server.port}/v1"}
        },
    )
    marker = uuid.uuid4().hex
    async with NodeResources.open(settings) as resources:
        await refused(resources, make_context, url=http_server.url_for(f"/echo?m={marker}"))
        await refused(
            resources, make_context, url=f"http://localhost:{http_server.port}/v1?m={marker}"
        )
        parsed = webhook_node.parse_config({"url": http_server.url_for("/webhook"), "payload": {}})
        assert isinstance(parsed, WebhookConfig)
        with pytest.raises(NodeExecutionError) as caught:
            await webhook_node.execute(parsed, make_context(resources))
        assert caught.value.error_type == "OutboundBlocked"
    assert not [r for r in http_server.requests if r.query.get("m") == [marker]]
    assert settings.outbound_allow_entries() == []


@pytest.mark.parametrize(
    ("entry", "host"),
    [
        ("127.0.0.1:{port}", "127.0.0.1"),
        ("localhost:{port}", "localhost"),
        ("LOCALHOST.:{port}", "localhost"),
        ("127.0.0.0/8:{port}", "127.0.0.1"),
        ("*.test:{port},127.0.0.1:{port}", "127.0.0.1"),
    ],
)
async def test_allow_list_entry_with_a_port_opens_that_port_only(
    entry: str,
    host: str,
    make_settings: MakeSettings,
    make_context: MakeContext,
    http_server: TestHttpServer,
) -> None:
    allowlist = entry.format(port=http_server.port)
    async with NodeResources.open(make_settings(outbound_allowlist=allowlist)) as resources:
        output = await call(resources, make_context, url=f"http://{host}:{http_server.port}/json")
        assert output["status_code"] == 200
        other = f"http://{host}:{closed_port()}/json"
        error = await refused(resources, make_context, url=other)
        assert error.details["port"] != http_server.port
        assert "(loopback address) for " + other in error.message


async def test_worker_resources_get_the_allow_list_read_from_the_environment_at_start(
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_context: MakeContext,
    http_server: TestHttpServer,
) -> None:
    monkeypatch.setenv("FLOV7_OUTBOUND_ALLOWLIST", "127.0.0.1")
    async with node_resources(load_settings()) as resources:
        assert isinstance(resources, NodeResources)
        output = await call(resources, make_context, url=http_server.url_for("/json"))
        assert output["status_code"] == 200
    assert resources.http.is_closed


# --- The transport itself: one lookup per connection, pinned to the checked address --------


class CountingResolver:
    """A resolver with fixed answers that counts lookups (a DNS test double, no sockets)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


async def test_a_name_resolving_to_private_addresses_is_refused() -> None:
    resolver = CountingResolver({"rebind.test": ["10.0.0.7", "127.0.0.1"]})
    transport = GuardedTransport(OutboundPolicy(), resolver=resolver)
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        with pytest.raises(OutboundBlockedError) as caught:
            await client.get("http://rebind.test:8080/x")
    assert caught.value.message == (
        f"Refused to connect to 10.0.0.7 (private address) for http://rebind.test:8080/x{HINT}"
    )


async def test_only_checked_addresses_are_connected(http_server: TestHttpServer) -> None:
    # A name with a refused and an allowed record: the refused one is skipped, never tried,
    # and the name is looked up once (the connection goes to the address that was checked).
    resolver = CountingResolver({"mixed.test": ["10.0.0.7", "127.0.0.1"]})
    policy = OutboundPolicy.from_entries(["127.0.0.1"])
    transport = GuardedTransport(policy, resolver=resolver)
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        response = await client.get(f"http://mixed.test:{http_server.port}/echo")
    assert response.status_code == 200
    assert response.json()["headers"]["host"] == f"mixed.test:{http_server.port}"
    assert resolver.lookups == ["mixed.test"]


async def test_unresolvable_host_is_a_connection_error() -> None:
    transport = GuardedTransport(OutboundPolicy(), resolver=CountingResolver({}))
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        with pytest.raises(httpx.ConnectError, match=r"Could not resolve host nowhere\.test"):
            await client.get("http://nowhere.test/")


async def test_an_allowed_origin_is_exact_scheme_host_and_port(
    http_server: TestHttpServer,
) -> None:
    # What the ai_agent node's client gets for its endpoint: that origin, nothing around it.
    origin = f"http://127.0.0.1:{http_server.port}"
    transport = GuardedTransport(OutboundPolicy().with_origins([origin]))
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        response = await client.get(f"{origin}/json")
        assert response.status_code == 200
        other_port = f"http://127.0.0.1:{closed_port()}/json"
        https = f"https://127.0.0.1:{http_server.port}/json"
        other_name = f"http://localhost:{http_server.port}/json"
        for url in (other_port, https, other_name):
            with pytest.raises(OutboundBlockedError, match="loopback address") as caught:
                await client.get(url)
            assert caught.value.url == url


def test_origins_are_normalised() -> None:
    policy = OutboundPolicy().with_origins(
        ["HTTP://LocalHost:11434/v1", "https://api.example.com/v1", "http://[::1]/v1"]
    )
    assert sorted(str(origin) for origin in policy.origins) == [
        "http://[::1]:80",
        "http://localhost:11434",
        "https://api.example.com:443",
    ]
    with pytest.raises(ValueError, match="http"):
        policy.with_origins(["ftp://files.example.com"])


# --- TLS: connecting to the checked IP keeps SNI and certificate checks on the name --------


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest_asyncio.fixture
async def tls_server(
    certificate_authority: trustme.CA,
) -> AsyncIterator[tuple[TestHttpServer, list[str]]]:
    """An HTTPS server on 127.0.0.1 with a certificate for ``secure.test`` and ``localhost``;
    yields it and the SNI names it received."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("secure.test", "localhost").configure_cert(context)
    server_names: list[str] = []

    def record_sni(_sock: Any, server_name: str | None, _context: Any) -> None:
        server_names.append(server_name or "")

    context.sni_callback = record_sni
    async with TestHttpServer(ssl_context=context, url_host="localhost") as server:
        yield server, server_names


def client_tls(certificate_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    return context


async def test_https_keeps_sni_and_verifies_the_hostname(
    tls_server: tuple[TestHttpServer, list[str]], certificate_authority: trustme.CA
) -> None:
    server, server_names = tls_server
    resolver = CountingResolver({"secure.test": ["127.0.0.1"], "wrong.test": ["127.0.0.1"]})
    transport = GuardedTransport(
        OutboundPolicy.from_entries(["127.0.0.1"]),
        verify=client_tls(certificate_authority),
        resolver=resolver,
    )
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        response = await client.get(f"https://secure.test:{server.port}/json")
        assert response.json() == {"hello": "world", "items": [1, 2, 3]}
        assert server_names == ["secure.test"]  # SNI is the name, not the IP connected to
        # Same IP, a name the certificate does not cover: verification must fail.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(f"https://wrong.test:{server.port}/json")


async def test_https_through_the_node_with_system_resolution(
    tls_server: tuple[TestHttpServer, list[str]],
    certificate_authority: trustme.CA,
) -> None:
    server, _ = tls_server
    transport = GuardedTransport(
        OutboundPolicy.from_entries(["localhost"]), verify=client_tls(certificate_authority)
    )
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        response = await client.get(server.url_for("/json"))
    assert response.status_code == 200
