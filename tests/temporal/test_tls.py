"""TLS, mTLS, server name override and API keys against a real TLS endpoint.

The dev server speaks plain gRPC only, so a TLS-terminating proxy (``tls_proxy.py``)
listens on 127.0.0.1 in front of it, with certificates made by trustme: one endpoint
with a server certificate, one that requires client certificates (mTLS), one whose
certificate names a host only (for ``TEMPORAL_TLS_SERVER_NAME``), and one with an
expired certificate. Connections go through :func:`get_temporal_client`, configured
by the ``TEMPORAL_*`` settings as a deployment would be, and a run goes through the
TLS connection end to end. Each misconfiguration must give an error that says which
setting to change.
"""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import trustme

from flov7.config import TemporalSettings
from flov7.errors import TemporalConnectionError
from flov7.temporal.client import get_temporal_client
from flov7.temporal.devserver import EmbeddedDevServer
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import create_worker
from temporal.tls_proxy import TlsProxy

SERVER_NAME = "temporal.flov7.test"
API_KEY = "cloud-api-key-5e0d7a11c3"


@dataclass(frozen=True)
class Endpoints:
    files: dict[str, Path]
    tls: TlsProxy
    mtls: TlsProxy
    named: TlsProxy
    expired: TlsProxy


def _write(directory: Path, name: str, blob: trustme.Blob) -> Path:
    path = directory / name
    blob.write_to_path(str(path))
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def endpoints(
    temporal_server: EmbeddedDevServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Endpoints]:
    directory = tmp_path_factory.mktemp("tls")
    ca, other_ca = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    named = ca.issue_cert(SERVER_NAME)  # no IP address in it: needs the name override
    expired = ca.issue_cert(
        "127.0.0.1",
        not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        not_after=datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC),
    )
    client = ca.issue_cert("flov7-worker@example.test")
    files = {
        "ca": _write(directory, "ca.pem", ca.cert_pem),
        "other_ca": _write(directory, "other-ca.pem", other_ca.cert_pem),
        "client_cert": _write(directory, "client.pem", client.cert_chain_pems[0]),
        "client_key": _write(directory, "client.key", client.private_key_pem),
    }
    for label, cert in (("server", server), ("named", named), ("expired", expired)):
        _write(directory, f"{label}.pem", cert.private_key_and_cert_chain_pem)
        _write(directory, f"{label}.key", cert.private_key_pem)

    def proxy(label: str, **kwargs: Any) -> TlsProxy:
        return TlsProxy(
            temporal_server.target,
            directory / f"{label}.pem",
            directory / f"{label}.key",
            **kwargs,
        )

    async with contextlib.AsyncExitStack() as stack:
        yield Endpoints(
            files=files,
            tls=await stack.enter_async_context(proxy("server")),
            mtls=await stack.enter_async_context(proxy("server", client_ca=files["ca"])),
            named=await stack.enter_async_context(proxy("named")),
            expired=await stack.enter_async_context(proxy("expired")),
        )


def settings_for(target: str, **values: Any) -> TemporalSettings:
    """The settings a deployment would set, by their variable names (``tls_ca_path`` ->
    ``TEMPORAL_TLS_CA_PATH``, ``api_key`` -> ``TEMPORAL_API_KEY``...)."""
    variables = {f"TEMPORAL_{name.upper()}": value for name, value in values.items()}
    return TemporalSettings.from_values(
        TEMPORAL_HOST=target,
        TEMPORAL_TASK_QUEUE=f"tls-{uuid.uuid4().hex[:8]}",
        TEMPORAL_CONNECT_TIMEOUT_SECONDS=5,
        **variables,
    )


async def test_a_run_over_mtls_with_server_name_override_and_api_key(
    endpoints: Endpoints,
) -> None:
    files = endpoints.files
    settings = settings_for(
        endpoints.mtls.target,
        tls_ca_path=files["ca"],
        tls_cert_path=files["client_cert"],
        tls_key_path=files["client_key"],
        tls_server_name="localhost",
        api_key=API_KEY,
    )
    assert settings.uses_tls
    client = await get_temporal_client(settings)
    assert client.service_client.config.tls is not False
    document = {
        "id": "over-tls",
        "nodes": [{"id": "t", "type": "transform", "data": {"mapping": {"ok": "true"}}}],
        "edges": [],
    }
    async with create_worker(client, settings):
        handle = await start_execution(client, document, settings)
        result = await handle.result()
    assert result["status"] == "completed"
    # The key went to the server, inside TLS, on every call.
    sent = endpoints.mtls.request_headers
    assert sent and all(h.get("authorization") == f"Bearer {API_KEY}" for h in sent)
    assert any(h.get(":path", "").endswith("/StartWorkflowExecution") for h in sent)


async def test_server_name_override_is_needed_for_a_certificate_without_the_ip(
    endpoints: Endpoints,
) -> None:
    ca = endpoints.files["ca"]
    with pytest.raises(TemporalConnectionError) as refused:
        await get_temporal_client(settings_for(endpoints.named.target, tls_ca_path=ca))
    assert "set TEMPORAL_TLS_SERVER_NAME to a name the certificate holds" in str(refused.value)
    named = settings_for(endpoints.named.target, tls_ca_path=ca, tls_server_name=SERVER_NAME)
    client = await get_temporal_client(named)
    assert await client.service_client.check_health()


@pytest.mark.parametrize(
    ("endpoint", "values", "message"),
    [
        (
            "tls",
            {"tls_ca_path": "other_ca"},
            "The server's TLS certificate is not signed by a CA in {other_ca}: set "
            "TEMPORAL_TLS_CA_PATH to the CA certificate that signed it.",
        ),
        (
            "mtls",
            {"tls_ca_path": "ca"},
            "it requires a client certificate (mTLS): set TEMPORAL_TLS_CERT_PATH and "
            "TEMPORAL_TLS_KEY_PATH.",
        ),
        (
            "expired",
            {"tls_ca_path": "ca", "api_key": API_KEY},
            "The server's TLS certificate has expired (or is not valid yet): renew the "
            "server's certificate (and check this machine's clock).",
        ),
        (
            "tls",
            {},
            "if the server expects TLS (Temporal Cloud, an mTLS frontend), set TEMPORAL_TLS=true",
        ),
    ],
    ids=["wrong-ca", "missing-client-cert", "expired-cert", "plaintext-to-tls"],
)
async def test_misconfigurations_say_which_setting_to_change(
    endpoints: Endpoints, endpoint: str, values: dict[str, Any], message: str
) -> None:
    files = endpoints.files
    resolved = {
        key: (files[value] if key.endswith("_path") else value) for key, value in values.items()
    }
    target = getattr(endpoints, endpoint).target
    with pytest.raises(TemporalConnectionError) as refused:
        await get_temporal_client(settings_for(target, **resolved))
    text = str(refused.value)
    assert text.startswith(f"Failed to connect to Temporal server at {target}")
    assert message.format(**{k: str(v) for k, v in files.items()}) in text
    assert API_KEY not in text
