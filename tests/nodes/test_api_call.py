"""``api_call`` against a real HTTP server on 127.0.0.1, through the real guarded client."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

from flov7.errors import NodeExecutionError
from flov7.nodes.api_call import ApiCallConfig, api_call_node
from flov7.nodes.base import ActivityContext
from flov7.nodes.credentials import HostBoundCredential, parse_credential
from flov7.nodes.http import (
    MAX_RETRY_AFTER_SECONDS,
    _send_following,
    build_request,
    host_and_port,
    parse_retry_after,
)
from flov7.nodes.outputs import property_names
from flov7.nodes.resources import NodeResources
from flov7.nodes.settings import NodeSettings
from nodes.http_servers import TestHttpServer

MakeContext = Callable[..., ActivityContext]
MakeSettings = Callable[..., NodeSettings]


async def call(
    resources: NodeResources | None,
    make_context: MakeContext,
    **config: Any,
) -> dict[str, Any]:
    """Run one api_call attempt."""
    parsed = api_call_node.parse_config(config)
    assert isinstance(parsed, ApiCallConfig)
    output = await api_call_node.execute(parsed, make_context(resources))
    assert isinstance(output, dict)
    return output


async def call_error(
    resources: NodeResources | None, make_context: MakeContext, **config: Any
) -> NodeExecutionError:
    """Run one api_call attempt that must fail; return its error."""
    with pytest.raises(NodeExecutionError) as caught:
        await call(resources, make_context, **config)
    return caught.value


def key() -> str:
    """A fresh key for the server's per-key counters."""
    return uuid.uuid4().hex


# --- Output -----------------------------------------------------------------------------


async def test_json_response_output_shape(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    output = await call(resources, make_context, url=http_server.url_for("/json"))

    assert set(output) == {"status_code", "headers", "body", "ok", "elapsed_ms"}
    # The declared output shape (validator, GET /node-types) is what the node returns.
    assert set(output) == set(property_names(api_call_node.output_schema))
    assert output["status_code"] == 200
    assert output["ok"] is True
    assert output["body"] == {"hello": "world", "items": [1, 2, 3]}
    assert output["headers"]["content-type"] == "application/json"
    assert isinstance(output["elapsed_ms"], float)
    assert 0 <= output["elapsed_ms"] < 5000


async def test_text_response_is_text(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    output = await call(resources, make_context, url=http_server.url_for("/text"))
    assert output["body"] == "plain text, not JSON"


async def test_invalid_json_falls_back_to_text(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    output = await call(resources, make_context, url=http_server.url_for("/not-json"))
    assert output["body"] == "{oops"


async def test_gzip_response_is_decoded(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    output = await call(resources, make_context, url=http_server.url_for("/gzip"))
    assert output["body"] == {"compressed": True}


# --- Request ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
async def test_each_method(
    method: str,
    resources: NodeResources,
    make_context: MakeContext,
    http_server: TestHttpServer,
) -> None:
    marker = key()
    output = await call(
        resources, make_context, url=http_server.url_for(f"/echo?m={marker}"), method=method
    )

    received = [r for r in http_server.requests_to("/echo") if r.query.get("m") == [marker]]
    assert [r.method for r in received] == [method]
    assert output["status_code"] == 200
    if method == "HEAD":
        assert output["body"] is None  # no body, JSON content type
    else:
        assert output["body"]["method"] == method


async def test_query_is_added_to_the_url_query(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    output = await call(
        resources,
        make_context,
        url=http_server.url_for("/echo?keep=1&page=1"),
        query={
            "page": 2,
            "tags": ["a", "b"],
            "active": True,
            "missing": None,
            "filter": {"k": "v"},
            "text": "a b&c",
        },
    )

    assert output["body"]["query"] == {
        "keep": ["1"],
        "page": ["2"],  # replaces the URL's page=1
        "tags": ["a", "b"],
        "active": ["true"],
        "filter": ['{"k":"v"}'],
        "text": ["a b&c"],
    }


async def test_headers_are_sent(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    output = await call(
        resources,
        make_context,
        url=http_server.url_for("/echo"),
        headers={"X-Trace": "abc", "Accept": "application/json"},
    )
    headers = output["body"]["headers"]
    assert headers["x-trace"] == "abc"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].startswith("flov7/")


async def test_json_body(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    body = {"order": 7, "items": [{"sku": "a", "qty": 2}], "note": "ünïcode"}
    output = await call(
        resources, make_context, url=http_server.url_for("/echo"), method="POST", body=body
    )
    assert output["body"]["headers"]["content-type"] == "application/json"
    assert output["body"]["json"] == body


async def test_form_body(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    output = await call(
        resources,
        make_context,
        url=http_server.url_for("/echo"),
        method="POST",
        body_type="form",
        body={"name": "Ada Lovelace", "age": 36, "tags": ["x", "y"], "ok": False},
    )
    echoed = output["body"]
    assert echoed["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert echoed["body"] == "name=Ada+Lovelace&age=36&tags=x&tags=y&ok=false"


async def test_form_body_must_be_an_object(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await call_error(
        resources,
        make_context,
        url=http_server.url_for("/echo"),
        method="POST",
        body_type="form",
        body=[1, 2],
    )
    assert error.error_type == "InvalidNodeConfig"
    assert error.retryable is False


async def test_raw_body_defaults_to_text_plain(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    output = await call(
        resources,
        make_context,
        url=http_server.url_for("/echo"),
        method="POST",
        body_type="raw",
        body="line one\nline two",
    )
    assert output["body"]["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert output["body"]["body"] == "line one\nline two"


async def test_raw_body_keeps_a_configured_content_type(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    output = await call(
        resources,
        make_context,
        url=http_server.url_for("/echo"),
        method="PUT",
        body_type="raw",
        body="<a>1</a>",
        headers={"content-type": "application/xml"},
    )
    assert output["body"]["headers"]["content-type"] == "application/xml"
    assert output["body"]["body"] == "<a>1</a>"


# --- Authentication from credentials ------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "header", "expected"),
    [
        ({"type": "bearer", "credential": "api_token"}, "authorization", "Bearer {bearer}"),
        ({"type": "bearer", "credential": "plain"}, "authorization", "Bearer {plain}"),
        ({"type": "basic", "credential": "login"}, "authorization", "Basic {basic}"),
        ({"type": "header", "credential": "custom_header"}, "x-custom-key", "{header}"),
        (
            {"type": "header", "credential": "custom_header", "header_name": "X-Other"},
            "x-other",
            "{header}",
        ),
        ({"type": "header", "credential": "plain"}, "x-api-key", "{plain}"),
        ({"type": "header", "credential": "API_TOKEN"}, "x-api-key", "{bearer}"),
    ],
)
async def test_auth_from_credentials(
    auth: dict[str, str],
    header: str,
    expected: str,
    resources: NodeResources,
    make_context: MakeContext,
    http_server: TestHttpServer,
    secrets: dict[str, str],
) -> None:
    basic = base64.b64encode(f"flov7-user:{secrets['basic_password']}".encode()).decode()
    marker = key()
    output = await call(
        resources,
        make_context,
        url=http_server.url_for(f"/echo?m={marker}"),
        auth=auth,
        headers={"Authorization": "overridden by auth", header: "overridden too"},
    )

    (received,) = [r for r in http_server.requests_to("/echo") if r.query.get("m") == [marker]]
    assert received.headers[header] == expected.format(basic=basic, **secrets)
    # The echo sends the header back: the output must not carry the secret.
    rendered = repr(output)
    for secret in [*secrets.values(), basic]:
        assert secret not in rendered
    assert "***" in output["body"]["headers"][header]


async def test_unknown_credential_is_a_clear_non_retryable_error(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await call_error(
        resources,
        make_context,
        url=http_server.url_for("/json"),
        auth={"type": "bearer", "credential": "nope"},
    )
    assert error.error_type == "CredentialError"
    assert error.retryable is False
    assert error.message.startswith(
        "Unknown credential 'nope'; configured: api_token, custom_header, hook, login, plain"
    )


async def test_credential_of_the_wrong_type(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await call_error(
        resources,
        make_context,
        url=http_server.url_for("/json"),
        auth={"type": "basic", "credential": "api_token"},
    )
    assert error.error_type == "CredentialError"
    assert error.retryable is False
    assert "'api_token' is a bearer credential; this needs a basic credential" in error.message


# --- Credentials bound to hosts (allowed_hosts) ----------------------------------------------

BOUND_SECRET = "tok-bound-3e8a61f2"


def bound(kind: str, allowed_hosts: list[str]) -> dict[str, Any]:
    """A credential of ``kind`` holding :data:`BOUND_SECRET`, limited to ``allowed_hosts``."""
    fields: dict[str, Any] = {
        "bearer": {"token": BOUND_SECRET},
        "basic": {"username": "flov7-user", "password": BOUND_SECRET},
        "header": {"header": "X-Bound-Key", "value": BOUND_SECRET},
        "secret": {"value": BOUND_SECRET},
    }[kind]
    return {"type": kind, **fields, "allowed_hosts": allowed_hosts}


@pytest.mark.parametrize(
    ("kind", "auth_type"),
    [("bearer", "bearer"), ("basic", "basic"), ("header", "header"), ("secret", "bearer")],
)
async def test_a_credential_is_refused_outside_its_allowed_hosts(
    kind: str,
    auth_type: str,
    make_settings: MakeSettings,
    make_context: MakeContext,
    http_server: TestHttpServer,
) -> None:
    # The crm token is meant for the CRM: a workflow must not send it to another host.
    settings = make_settings(credentials={"crm": bound(kind, ["crm.example.com"])})
    marker = key()
    async with NodeResources.open(settings) as resources:
        error = await call_error(
            resources,
            make_context,
            url=http_server.url_for(f"/echo?m={marker}"),
            auth={"type": auth_type, "credential": "crm"},
        )
    assert error.error_type == "CredentialError"
    assert error.retryable is False
    assert error.message == (
        f"Credential 'crm' may not be sent to 127.0.0.1 (port {http_server.port}): its "
        "allowed_hosts are crm.example.com"
    )
    basic = base64.b64encode(f"flov7-user:{BOUND_SECRET}".encode()).decode()
    assert BOUND_SECRET not in repr(error.details) and basic not in error.message
    assert not [r for r in http_server.requests if r.query.get("m") == [marker]]


@pytest.mark.parametrize(
    ("allowed_hosts", "sent"),
    [
        (["127.0.0.1"], True),
        (["127.0.0.1:{port}"], True),
        (["crm.example.com", "127.0.0.1:{port}"], True),
        (["127.0.0.1:1"], False),
        (["localhost"], False),  # a name is not the address it resolves to
        (["*.0.0.1"], False),  # a wildcard is for names, not for IP addresses
    ],
)
async def test_a_credential_is_sent_to_its_allowed_hosts_only(
    allowed_hosts: list[str],
    sent: bool,
    make_settings: MakeSettings,
    make_context: MakeContext,
    http_server: TestHttpServer,
) -> None:
    hosts = [entry.format(port=http_server.port) for entry in allowed_hosts]
    settings = make_settings(credentials={"crm": bound("header", hosts)})
    marker = key()
    async with NodeResources.open(settings) as resources:
        config: dict[str, Any] = {
            "url": http_server.url_for(f"/echo?m={marker}"),
            "auth": {"type": "header", "credential": "crm"},
        }
        if sent:
            await call(resources, make_context, **config)
        else:
            assert (await call_error(resources, make_context, **config)).error_type == (
                "CredentialError"
            )
    received = [r for r in http_server.requests if r.query.get("m") == [marker]]
    assert [r.headers["x-bound-key"] for r in received] == ([BOUND_SECRET] if sent else [])


async def test_allowed_hosts_do_not_carry_a_credential_across_a_redirect(
    make_settings: MakeSettings, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    # Both origins are allowed for the credential, yet a cross-origin hop still loses it.
    settings = make_settings(
        outbound_allowlist="127.0.0.1,localhost",
        credentials={"crm": bound("header", ["127.0.0.1", "localhost"])},
    )
    async with NodeResources.open(settings) as resources:
        output = await call(
            resources,
            make_context,
            url=http_server.url_for("/redirect"),
            query={"to": f"http://localhost:{http_server.port}/echo"},
            auth={"type": "header", "credential": "crm"},
        )
    assert output["body"]["headers"]["host"] == f"localhost:{http_server.port}"
    assert "x-bound-key" not in output["body"]["headers"]


async def test_a_hop_outside_allowed_hosts_loses_the_credential() -> None:
    # http://api.example -> https://api.example counts as the same origin (an upgrade),
    # but a credential limited to port 80 must not follow it to port 443.
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.scheme == "http":
            return httpx.Response(301, headers={"Location": "https://api.example/next"})
        return httpx.Response(200)

    credential = parse_credential(bound("header", ["api.example:80"]))
    assert isinstance(credential, HostBoundCredential)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        request = client.build_request(
            "GET", "http://api.example/start", headers={"X-Bound-Key": BOUND_SECRET}
        )
        response = await _send_following(
            client,
            request,
            True,
            {"x-bound-key"},
            lambda url: credential.allows_host(*host_and_port(url)),
        )
    assert response.status_code == 200
    assert [r.headers.get("x-bound-key") for r in seen] == [BOUND_SECRET, None]


# --- Status codes and retries -------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_client_errors_fail_at_once_with_an_excerpt(
    status: int, resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await call_error(resources, make_context, url=http_server.url_for(f"/status/{status}"))

    assert error.retryable is False
    assert error.error_type == "HttpClientError"
    assert error.message.startswith(f"HTTP {status} ")
    assert f'"error": "status {status}"' in error.message
    assert error.details["status_code"] == status
    assert error.retry_after_seconds is None


async def test_excerpt_is_short_and_on_one_line(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    text = "line\n" * 2000
    error = await call_error(
        resources, make_context, url=http_server.url_for("/status/400"), query={"text": text}
    )
    excerpt = error.details["body_excerpt"]
    assert isinstance(excerpt, str)
    assert "\n" not in excerpt
    assert len(excerpt) <= 301
    assert excerpt.endswith("…")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retryable(
    status: int, resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await call_error(resources, make_context, url=http_server.url_for(f"/status/{status}"))
    assert error.retryable is True
    assert error.error_type == "HttpServerError"
    assert error.details["status_code"] == status
    assert error.retry_after_seconds is None


async def test_429_honours_retry_after_seconds(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await call_error(
        resources, make_context, url=http_server.url_for("/status/429?retry_after=7")
    )
    assert error.retryable is True
    assert error.error_type == "HttpRateLimited"
    assert error.retry_after_seconds == 7
    assert "retry after 7 s" in error.message


async def test_retry_after_is_capped(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await call_error(
        resources, make_context, url=http_server.url_for("/status/503?retry_after=86400")
    )
    assert error.retry_after_seconds == MAX_RETRY_AFTER_SECONDS == 60


async def test_retry_after_as_http_date(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    error = await call_error(
        resources, make_context, url=http_server.url_for("/status/429"), query={"retry_after": when}
    )
    assert error.retry_after_seconds is not None
    assert 25 <= error.retry_after_seconds <= 30


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("0") == 0
    assert parse_retry_after(" 12 ") == 12
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:20 GMT", now) == 20
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0  # in the past
    assert parse_retry_after("Fri, 02 Jan 2026 00:00:00 GMT", now) == MAX_RETRY_AFTER_SECONDS


async def test_flaky_endpoint_succeeds_once_it_recovers(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    # Temporal runs the attempts; here each call is one attempt.
    url = http_server.url_for(f"/flaky/{key()}?failures=2&status=502")
    for _ in range(2):
        error = await call_error(resources, make_context, url=url)
        assert error.retryable is True
    output = await call(resources, make_context, url=url)
    assert output["body"]["calls"] == 3


@pytest.mark.parametrize("status", [404, 503])
async def test_fail_on_status_false_outputs_any_status(
    status: int, resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    output = await call(
        resources,
        make_context,
        url=http_server.url_for(f"/status/{status}"),
        fail_on_status=False,
    )
    assert output["status_code"] == status
    assert output["ok"] is False
    assert output["body"] == {"error": f"status {status}", "code": status}


# --- Timeouts and connection errors ---------------------------------------------------------


async def test_timeout_is_retryable(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await call_error(
        resources,
        make_context,
        url=http_server.url_for("/slow?seconds=5"),
        http_timeout_seconds=0.3,
    )
    assert error.error_type == "Timeout"
    assert error.retryable is True
    assert "timed out after 0.3 s" in error.message


async def test_timeout_covers_a_body_that_trickles(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    # Each chunk arrives well within the timeout: only an overall deadline catches this.
    error = await call_error(
        resources,
        make_context,
        url=http_server.url_for("/trickle?count=50&interval=0.1"),
        http_timeout_seconds=0.5,
    )
    assert error.error_type == "Timeout"
    assert error.retryable is True


async def test_connection_refused_is_retryable(
    resources: NodeResources, make_context: MakeContext
) -> None:
    closed = TestHttpServer()
    async with closed:
        url = closed.url_for("/json")
    error = await call_error(resources, make_context, url=url)
    assert error.error_type == "ConnectionError"
    assert error.retryable is True


# --- Response size cap --------------------------------------------------------------------


@pytest_asyncio.fixture
async def small_cap(make_settings: MakeSettings) -> AsyncIterator[NodeResources]:
    """Resources with a 1000-byte response cap."""
    async with NodeResources.open(make_settings(http_max_response_bytes=1000)) as opened:
        yield opened


@pytest.mark.parametrize("declare", ["0", "1"])
async def test_body_at_the_cap_is_accepted(
    declare: str, small_cap: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    output = await call(
        small_cap, make_context, url=http_server.url_for(f"/bytes?size=1000&declare={declare}")
    )
    assert output["body"] == "x" * 1000


async def test_streamed_body_over_the_cap_is_refused(
    small_cap: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await call_error(small_cap, make_context, url=http_server.url_for("/bytes?size=1001"))
    assert error.error_type == "ResponseTooLarge"
    assert error.retryable is False
    assert "1000-byte limit" in error.message
    assert "FLOV7_HTTP_MAX_RESPONSE_BYTES" in error.message


async def test_huge_streamed_body_stops_at_the_cap(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    # 200 MiB without Content-Length against the default 16 MiB cap: reading stops at the
    # cap rather than buffering the whole body.
    error = await call_error(
        resources, make_context, url=http_server.url_for(f"/bytes?size={200 * 1024 * 1024}")
    )
    assert error.error_type == "ResponseTooLarge"
    assert "16777216-byte limit" in error.message


async def test_declared_length_over_the_cap_is_refused_before_reading(
    small_cap: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await call_error(
        small_cap, make_context, url=http_server.url_for("/bytes?size=5000&declare=1")
    )
    assert error.error_type == "ResponseTooLarge"
    assert "Content-Length is 5000" in error.message


async def test_lying_content_length_is_refused_up_front(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    # Claims a terabyte, sends 10 bytes: refused on the header, nothing is allocated.
    error = await call_error(resources, make_context, url=http_server.url_for("/lying-length"))
    assert error.error_type == "ResponseTooLarge"
    assert "Content-Length is 1000000000000" in error.message


async def test_short_body_against_its_content_length_is_a_connection_error(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await call_error(
        resources, make_context, url=http_server.url_for("/lying-length?claimed=100")
    )
    assert error.error_type == "ConnectionError"
    assert error.retryable is True


# --- Redirects, cookies, URLs -------------------------------------------------------------


async def test_redirects_are_followed(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    output = await call(
        resources,
        make_context,
        url=http_server.url_for("/redirect"),
        query={"to": http_server.url_for("/json"), "status": 307},
    )
    assert output["status_code"] == 200
    assert output["body"] == {"hello": "world", "items": [1, 2, 3]}


async def test_redirects_not_followed_when_disabled(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    output = await call(
        resources,
        make_context,
        url=http_server.url_for("/redirect"),
        query={"to": "/json"},
        follow_redirects=False,
    )
    assert output["status_code"] == 302
    assert output["ok"] is False
    assert output["headers"]["location"] == "/json"


async def test_redirect_loop_fails(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await call_error(resources, make_context, url=http_server.url_for("/redirect-loop"))
    assert error.error_type == "TooManyRedirects"
    assert error.retryable is False


async def test_credential_headers_are_dropped_on_a_cross_origin_redirect(
    make_settings: MakeSettings, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    settings = make_settings(outbound_allowlist="127.0.0.1,localhost")
    other_origin = f"http://localhost:{http_server.port}/echo"
    async with NodeResources.open(settings) as resources:
        for auth in (
            {"type": "header", "credential": "custom_header"},
            {"type": "bearer", "credential": "api_token"},
        ):
            output = await call(
                resources,
                make_context,
                url=http_server.url_for("/redirect"),
                query={"to": other_origin},
                auth=auth,
                headers={"X-Public": "kept"},
            )
            headers = output["body"]["headers"]
            assert headers["host"] == f"localhost:{http_server.port}"
            assert "x-custom-key" not in headers
            assert "authorization" not in headers
            assert headers["x-public"] == "kept"


async def test_credential_headers_survive_a_same_origin_redirect(
    resources: NodeResources,
    make_context: MakeContext,
    http_server: TestHttpServer,
    secrets: dict[str, str],
) -> None:
    marker = key()
    await call(
        resources,
        make_context,
        url=http_server.url_for("/redirect"),
        query={"to": f"/echo?m={marker}"},
        auth={"type": "header", "credential": "custom_header"},
    )
    (received,) = [r for r in http_server.requests_to("/echo") if r.query.get("m") == [marker]]
    assert received.headers["x-custom-key"] == secrets["header"]


async def test_cookies_are_not_shared_between_calls(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    first = await call(resources, make_context, url=http_server.url_for("/cookies/set"))
    assert "session=abc123" in first["headers"]["set-cookie"]
    second = await call(resources, make_context, url=http_server.url_for("/cookies/echo"))
    assert second["body"] == {"cookie": None}


@pytest.mark.parametrize(
    ("url", "error_type"),
    [
        ("/relative/path", "InvalidUrl"),
        ("example.com/no-scheme", "InvalidUrl"),
        ("http://", "InvalidUrl"),
        ("http://exa mple.com/", "InvalidUrl"),
    ],
)
async def test_invalid_urls_fail_at_once(
    url: str, error_type: str, resources: NodeResources, make_context: MakeContext
) -> None:
    error = await call_error(resources, make_context, url=url)
    assert error.error_type == error_type
    assert error.retryable is False


async def test_missing_resources_is_a_clear_non_retryable_error(
    make_context: MakeContext, http_server: TestHttpServer
) -> None:
    error = await call_error(None, make_context, url=http_server.url_for("/json"))
    assert error.error_type == "WorkerMisconfigured"
    assert error.retryable is False
    assert "node_resources()" in error.message


async def test_connections_share_one_client(
    resources: NodeResources, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    client = resources.http
    await call(resources, make_context, url=http_server.url_for("/json"))
    await call(resources, make_context, url=http_server.url_for("/json"))
    assert resources.http is client
    assert not client.is_closed


@pytest.mark.parametrize(
    "headers",
    [{"X-Name": "Zoë"}, {"X-Injected": "a\r\nX-Evil: 1"}, {"Bad Header": "x"}],
)
async def test_malformed_headers_fail_at_once(
    headers: dict[str, str],
    resources: NodeResources,
    make_context: MakeContext,
    http_server: TestHttpServer,
) -> None:
    error = await call_error(
        resources, make_context, url=http_server.url_for("/echo"), headers=headers
    )
    assert error.error_type == "InvalidRequest"
    assert error.retryable is False


async def test_the_http_timeout_is_the_nodes(resources: NodeResources) -> None:
    # httpx's per-phase limits follow the node's timeout_seconds, not the client's 30 s
    # default (a 120 s call must not be cut at 30 s of silence).
    request = build_request(
        resources.http, "GET", httpx.URL("http://127.0.0.1/"), headers={}, timeout_seconds=120
    )
    assert request.extensions["timeout"] == {
        "connect": 120,
        "read": 120,
        "write": 120,
        "pool": 120,
    }


async def test_a_10_mb_body_is_read_with_the_default_cap(
    make_settings: MakeSettings, make_context: MakeContext, http_server: TestHttpServer
) -> None:
    # The default cap suits multi-MB API responses (outputs that large go by reference).
    async with NodeResources.open(make_settings()) as defaults:
        output = await call(
            defaults, make_context, url=http_server.url_for("/bytes?size=10000000&declare=1")
        )
    assert len(output["body"]) == 10_000_000
