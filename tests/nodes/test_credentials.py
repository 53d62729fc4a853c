"""Named credentials, node settings from the environment, redaction, worker resources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from flov7.errors import ConfigError, NodeExecutionError
from flov7.nodes.credentials import (
    BasicCredential,
    BearerCredential,
    CredentialStore,
    DatabaseCredential,
    HeaderCredential,
    HostBoundCredential,
    LlmCredential,
    SecretCredential,
    parse_credential,
)
from flov7.nodes.resources import NodeResources
from flov7.nodes.settings import DEFAULT_MAX_RESPONSE_BYTES, NodeSettings, load_node_settings


def config_error(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    """The ConfigError message for these variables (set in the environment)."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_node_settings()
    return str(caught.value)


# --- Credential shapes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected_type"),
    [
        ({"type": "bearer", "token": "t"}, BearerCredential),
        ({"type": "basic", "username": "u", "password": "p"}, BasicCredential),
        ({"type": "header", "header": "X-Key", "value": "v"}, HeaderCredential),
        ({"type": "secret", "value": "s"}, SecretCredential),
        ({"type": "database", "url": "sqlite:///x.db", "read_only": True}, DatabaseCredential),
        ({"type": "llm", "base_url": "https://llm.example/v1", "api_key": "k"}, LlmCredential),
        ("just-a-string", SecretCredential),
        ('{"type": "bearer", "token": "from-json-text"}', BearerCredential),
    ],
)
def test_credential_shapes(raw: Any, expected_type: type) -> None:
    assert isinstance(parse_credential(raw), expected_type)


def test_secret_values_are_hidden_from_repr() -> None:
    credential = parse_credential({"type": "basic", "username": "u", "password": "hunter22"})
    assert "hunter22" not in repr(credential)
    assert "hunter22" not in str(credential)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"token": "t"}, 'needs "type", one of bearer, basic, header, secret, database, llm'),
        ({"type": "oauth"}, 'needs "type", one of'),
        ({"type": "bearer"}, "invalid bearer credential: token: Field required"),
        (
            {"type": "bearer", "token": "t", "tokn": "t"},
            "invalid bearer credential: tokn: Extra inputs are not permitted",
        ),
        ({"type": "header", "header": "Bad Header", "value": "v"}, "header: String should match"),
        ({"type": "llm", "base_url": "localhost:8000"}, "base_url: must be an http(s) URL"),
        ("{not json", "not valid JSON"),
        (["a"], "must be a JSON object or a plain string"),
    ],
)
def test_invalid_credentials(raw: Any, message: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        parse_credential(raw)
    assert message in str(caught.value)


# --- allowed_hosts: binding a credential to its destinations -------------------------------


@pytest.mark.parametrize("kind", ["bearer", "basic", "header", "secret"])
def test_allowed_hosts_are_accepted_and_normalised(kind: str) -> None:
    fields: dict[str, Any] = {
        "bearer": {"token": "tok-123456"},
        "basic": {"username": "u", "password": "pw-123456"},
        "header": {"header": "X-Key", "value": "key-123456"},
        "secret": {"value": "whsec-123456"},
    }[kind]
    credential = parse_credential(
        {
            "type": kind,
            **fields,
            "allowed_hosts": ["API.CRM.Example.", "*.crm.example:8443", "10.0.0.5:443", "[::1]:80"],
        }
    )
    assert isinstance(credential, HostBoundCredential)
    assert credential.allowed_hosts == (
        "api.crm.example",
        "*.crm.example:8443",
        "10.0.0.5:443",
        "[::1]:80",
    )


def test_allowed_hosts_may_be_one_comma_separated_string() -> None:
    credential = parse_credential(
        '{"type": "bearer", "token": "tok-123456", "allowed_hosts": "a.example, b.example:8443"}'
    )
    assert isinstance(credential, BearerCredential)
    assert credential.allowed_hosts == ("a.example", "b.example:8443")


def test_allowed_hosts_match_by_host_and_port() -> None:
    credential = parse_credential(
        {
            "type": "bearer",
            "token": "tok-123456",
            "allowed_hosts": ["api.crm.example", "*.crm.example:8443", "10.0.0.5:443", "[::1]:80"],
        }
    )
    assert isinstance(credential, BearerCredential)
    assert credential.allows_host("api.crm.example", 443)
    assert credential.allows_host("API.CRM.EXAMPLE.", 8080)  # no port in the entry: any port
    assert credential.allows_host("eu.crm.example", 8443)
    assert not credential.allows_host("eu.crm.example", 443)
    assert not credential.allows_host("crm.example", 8443)  # a wildcard means subdomains
    assert not credential.allows_host("api.crm.example.evil.test", 443)
    assert not credential.allows_host("evilapi.crm.example", 1)
    assert credential.allows_host("10.0.0.5", 443)
    assert not credential.allows_host("10.0.0.5", 80)
    assert not credential.allows_host("10.0.0.6", 443)
    assert credential.allows_host("::1", 80)
    assert credential.allows_host("[::1]", 80)
    # Without allowed_hosts: any host (today's behaviour, with a warning at start-up).
    unbound = parse_credential({"type": "bearer", "token": "tok-123456"})
    assert isinstance(unbound, BearerCredential)
    assert unbound.allowed_hosts is None
    assert unbound.allows_host("anywhere.example", 443)


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ([], "allowed_hosts: must list at least one host (leave it out to allow any host)"),
        ("", "allowed_hosts: must list at least one host"),
        (["not a host"], "allowed_hosts: 'not a host' is neither a hostname"),
        (["api.example:99999"], "allowed_hosts: 'api.example:99999' has an invalid port"),
        (["10.0.0.0/8"], "allowed_hosts: '10.0.0.0/8' is a network"),
        (["https://api.example"], "allowed_hosts: 'https://api.example' is neither a hostname"),
        ([42], "allowed_hosts.0: Input should be a valid string"),
    ],
)
def test_invalid_allowed_hosts(hosts: Any, message: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        parse_credential({"type": "bearer", "token": "tok-123456", "allowed_hosts": hosts})
    assert message in str(caught.value)
    assert "tok-123456" not in str(caught.value)


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "database", "url": "sqlite:///x.db", "allowed_hosts": ["db.example"]},
        {"type": "llm", "base_url": "https://llm.example/v1", "allowed_hosts": ["x.example"]},
    ],
)
def test_allowed_hosts_only_on_credentials_sent_to_urls(raw: dict[str, Any]) -> None:
    # A database URL and an LLM base_url already name their one destination.
    with pytest.raises(ValueError, match="allowed_hosts: Extra inputs are not permitted"):
        parse_credential(raw)


def test_allowed_hosts_from_the_environment(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "FLOV7_CREDENTIAL_CRM",
        '{"type": "bearer", "token": "crm-token", "allowed_hosts": ["api.crm.example"]}',
    )
    monkeypatch.setenv(
        "FLOV7_CREDENTIALS",
        '{"bad": {"type": "secret", "value": "s-123456", "allowed_hosts": ["a b"]}}',
    )
    message = config_error(monkeypatch)
    assert "FLOV7_CREDENTIALS['bad']: invalid secret credential: allowed_hosts: 'a b'" in message
    assert "s-123456" not in message
    monkeypatch.delenv("FLOV7_CREDENTIALS")
    crm = load_node_settings().credentials["crm"]
    assert isinstance(crm, BearerCredential)
    assert crm.allowed_hosts == ("api.crm.example",)


def test_store_refuses_a_credential_for_a_host_outside_allowed_hosts() -> None:
    credentials = CredentialStore(
        {
            "crm": parse_credential(
                {"type": "bearer", "token": "tok-crm-123", "allowed_hosts": ["api.crm.example"]}
            )
        }
    )
    crm = credentials.get("CRM", BearerCredential)
    credentials.check_host("CRM", crm, "api.crm.example", 443)  # allowed: no error
    with pytest.raises(NodeExecutionError) as caught:
        credentials.check_host("CRM", crm, "evil.example", 443)
    error = caught.value
    assert error.error_type == "CredentialError"
    assert error.retryable is False
    assert error.message == (
        "Credential 'crm' may not be sent to evil.example (port 443): its allowed_hosts are "
        "api.crm.example"
    )
    assert error.details == {
        "credential": "crm",
        "host": "evil.example",
        "port": 443,
        "allowed_hosts": ["api.crm.example"],
    }
    assert "tok-crm-123" not in repr(error.details) + error.message


def test_credentials_without_allowed_hosts_warn_once_at_start_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="flov7.nodes.credentials"):
        CredentialStore(
            {
                "open_token": parse_credential({"type": "bearer", "token": "tok-123456"}),
                "open_hook": parse_credential("whsec-123456"),
                "bound": parse_credential(
                    {"type": "bearer", "token": "tok-654321", "allowed_hosts": ["a.example"]}
                ),
                "db": parse_credential({"type": "database", "url": "sqlite:///x.db"}),
                "llm": parse_credential({"type": "llm", "base_url": "https://llm.example/v1"}),
            }
        )
    warnings = [r.getMessage() for r in caplog.records if "allowed_hosts" in r.getMessage()]
    assert warnings == [
        "Credential 'open_token' has no allowed_hosts: any workflow may send it to any host; "
        "set allowed_hosts to the hosts it is meant for",
        "Credential 'open_hook' has no allowed_hosts: any workflow may send it to any host; "
        "set allowed_hosts to the hosts it is meant for",
    ]
    assert "tok-123456" not in caplog.text
    assert "whsec-123456" not in caplog.text


# --- Credentials from the environment -----------------------------------------------------


def test_credentials_from_variables(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "FLOV7_CREDENTIALS",
        json.dumps(
            {
                "CRM": {"type": "bearer", "token": "crm-token"},
                "shared": "from-the-object",
            }
        ),
    )
    monkeypatch.setenv("FLOV7_CREDENTIAL_SHARED", "from-the-single-variable")
    monkeypatch.setenv("flov7_credential_Hook", '{"type": "secret", "value": "whsec"}')

    settings = load_node_settings()

    assert sorted(settings.credentials) == ["crm", "hook", "shared"]
    crm = settings.credentials["crm"]
    assert isinstance(crm, BearerCredential)
    assert crm.token.get_secret_value() == "crm-token"
    shared = settings.credentials["shared"]
    assert isinstance(shared, SecretCredential)
    assert shared.value.get_secret_value() == "from-the-single-variable"  # the single one wins
    assert "from-the-single-variable" not in repr(settings)


def test_credentials_from_dotenv_and_environment_precedence(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / ".env").write_text(
        "FLOV7_CREDENTIAL_FROM_FILE=file-secret\n"
        "FLOV7_CREDENTIAL_BOTH=file-value\n"
        "FLOV7_OUTBOUND_ALLOWLIST=10.0.0.0/8\n"
        "FLOV7_DATABASE_REPORTS=sqlite:///reports.db\n"
    )
    monkeypatch.setenv("FLOV7_CREDENTIAL_BOTH", "env-value")

    settings = load_node_settings()

    assert settings.outbound_allowlist == ("10.0.0.0/8",)
    both = settings.credentials["both"]
    from_file = settings.credentials["from_file"]
    assert isinstance(both, SecretCredential) and isinstance(from_file, SecretCredential)
    assert both.value.get_secret_value() == "env-value"
    assert from_file.value.get_secret_value() == "file-secret"
    assert settings.databases["reports"].url.get_secret_value() == "sqlite:///reports.db"
    # env_file=None: the environment only.
    assert "from_file" not in load_node_settings(env_file=None).credentials


def test_bad_credentials_are_reported_per_variable_without_secrets(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = config_error(
        monkeypatch,
        FLOV7_CREDENTIALS=json.dumps(
            {"good": "ok-secret-1", "bad": {"type": "bearer", "tokn": "leaky-secret-2"}}
        ),
        FLOV7_CREDENTIAL_BROKEN='{"type": "basic", "username": "u", "password": "leaky-3"',
        FLOV7_CREDENTIAL_NOTYPE='{"value": "leaky-secret-4"}',
    )
    assert message.splitlines() == [
        "Invalid node configuration:",
        "  FLOV7_CREDENTIALS['bad']: invalid bearer credential: token: Field required; "
        "tokn: Extra inputs are not permitted",
        "  FLOV7_CREDENTIAL_BROKEN: not valid JSON (Expecting ',' delimiter at char 56)",
        '  FLOV7_CREDENTIAL_NOTYPE: needs "type", one of bearer, basic, header, secret, '
        "database, llm",
    ]
    for secret in ("ok-secret-1", "leaky-secret-2", "leaky-3", "leaky-secret-4"):
        assert secret not in message


def test_credentials_json_must_be_an_object(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = config_error(monkeypatch, FLOV7_CREDENTIALS='["secret-in-a-list"]')
    assert "FLOV7_CREDENTIALS must be a JSON object {name: ...}" in message
    assert "secret-in-a-list" not in message
    message = config_error(monkeypatch, FLOV7_CREDENTIALS='{"a": "secret-text"')
    assert "FLOV7_CREDENTIALS must be a JSON object: Expecting" in message
    assert "secret-text" not in message


def test_duplicate_names_differing_in_case(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = config_error(monkeypatch, FLOV7_CREDENTIALS='{"Api": "a", "API": "b"}')
    assert "'api' is configured twice in FLOV7_CREDENTIALS (names ignore case)" in message


# --- Other node settings ------------------------------------------------------------------


def test_defaults(clean_env: Path) -> None:
    settings = load_node_settings()
    assert settings.outbound_allowlist == ()
    assert settings.http_max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES == 16 * 1024 * 1024
    assert settings.http_max_connections == 100
    assert settings.credentials == {}
    assert settings.databases == {}
    assert settings.default_database is None
    assert settings.llm_base_url is None
    assert settings.llm_api_key is None
    assert settings.llm_model is None
    assert settings.llm_timeout_seconds == 120
    assert settings.outbound_allow_entries() == []
    assert settings.llm_origins() == []


def test_empty_variables_count_as_unset(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "FLOV7_OUTBOUND_ALLOWLIST",
        "FLOV7_HTTP_MAX_RESPONSE_BYTES",
        "FLOV7_CREDENTIALS",
        "FLOV7_CREDENTIAL_X",
        "FLOV7_DATABASE_Y",
        "FLOV7_LLM_BASE_URL",
    ):
        monkeypatch.setenv(name, "")
    settings = load_node_settings()
    assert settings.credentials == {}
    assert settings.databases == {}
    assert settings.http_max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES


def test_http_and_llm_variables(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOV7_OUTBOUND_ALLOWLIST", " 127.0.0.1 ,10.0.0.0/8,, api.internal ")
    monkeypatch.setenv("FLOV7_HTTP_MAX_RESPONSE_BYTES", "1024")
    monkeypatch.setenv("FLOV7_HTTP_MAX_CONNECTIONS", "7")
    monkeypatch.setenv("flov7_llm_base_url", "http://llm.internal:8000/v1")
    monkeypatch.setenv("FLOV7_LLM_API_KEY", "sk-llm-secret")
    monkeypatch.setenv("FLOV7_LLM_MODEL", "small-model")
    monkeypatch.setenv("FLOV7_LLM_TIMEOUT_SECONDS", "45")

    settings = load_node_settings()

    assert settings.outbound_allowlist == ("127.0.0.1", "10.0.0.0/8", "api.internal")
    assert settings.http_max_response_bytes == 1024
    assert settings.http_max_connections == 7
    assert settings.llm_base_url == "http://llm.internal:8000/v1"
    assert isinstance(settings.llm_api_key, SecretStr)
    assert settings.llm_api_key.get_secret_value() == "sk-llm-secret"
    assert settings.llm_model == "small-model"
    assert settings.llm_timeout_seconds == 45
    # The LLM endpoint is no allow-list entry: only the ai_agent node may reach it.
    assert settings.outbound_allow_entries() == ["127.0.0.1", "10.0.0.0/8", "api.internal"]
    assert settings.llm_origins() == ["http://llm.internal:8000"]
    assert "sk-llm-secret" not in repr(settings)


def test_bad_http_and_llm_variables(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(
        monkeypatch,
        FLOV7_OUTBOUND_ALLOWLIST="127.0.0.1,not a host",
        FLOV7_HTTP_MAX_RESPONSE_BYTES="0",
        FLOV7_HTTP_MAX_CONNECTIONS="many",
        FLOV7_LLM_BASE_URL="llm.internal:8000",
        FLOV7_LLM_TIMEOUT_SECONDS="-1",
    )
    assert message.splitlines()[1:] == [
        "  FLOV7_OUTBOUND_ALLOWLIST: 'not a host' is neither a hostname, a '*.domain' "
        "wildcard, an IP address nor a CIDR (each optionally followed by :port)",
        "  FLOV7_HTTP_MAX_RESPONSE_BYTES must be greater than 0, got 0",
        "  FLOV7_HTTP_MAX_CONNECTIONS: Input should be a valid integer, unable to parse "
        "string as an integer, got 'many'",
        "  FLOV7_LLM_BASE_URL must be an http(s) URL with a host, e.g. https://api.openai.com/v1",
        "  FLOV7_LLM_TIMEOUT_SECONDS must be greater than 0, got -1.0",
    ]


# --- Databases ----------------------------------------------------------------------------


def test_databases_from_all_sources(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "FLOV7_DATABASES",
        json.dumps(
            {
                "Orders": {"url": "postgresql://app:db-pass-1@db/orders", "read_only": False},
                "legacy": "sqlite:///legacy.db",
            }
        ),
    )
    monkeypatch.setenv("FLOV7_DATABASE_ANALYTICS", "sqlite:///analytics.db")
    monkeypatch.setenv("FLOV7_DATABASE_ANALYTICS_READ_ONLY", "true")
    monkeypatch.setenv("FLOV7_DATABASE_ORDERS_READ_ONLY", "yes")  # flags a JSON entry too
    monkeypatch.setenv(
        "FLOV7_CREDENTIAL_WAREHOUSE",
        '{"type": "database", "url": "sqlite:///warehouse.db", "read_only": true}',
    )
    monkeypatch.setenv("FLOV7_DEFAULT_DATABASE", "ORDERS")

    settings = load_node_settings()

    databases = {
        name: (db.url.get_secret_value(), db.read_only) for name, db in settings.databases.items()
    }
    assert databases == {
        "orders": ("postgresql://app:db-pass-1@db/orders", True),
        "legacy": ("sqlite:///legacy.db", False),
        "analytics": ("sqlite:///analytics.db", True),
        "warehouse": ("sqlite:///warehouse.db", True),
    }
    assert settings.default_database == "orders"
    assert "db-pass-1" not in repr(settings)


def test_bad_database_variables(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(
        monkeypatch,
        FLOV7_DATABASE_MAIN="sqlite:///main.db",
        FLOV7_DATABASE_MAIN_READ_ONLY="maybe",
    )
    assert "FLOV7_DATABASE_MAIN_READ_ONLY must be true or false, got 'maybe'" in message

    monkeypatch.delenv("FLOV7_DATABASE_MAIN_READ_ONLY")
    message = config_error(
        monkeypatch,
        FLOV7_DATABASE_GHOST_READ_ONLY="true",
        FLOV7_DEFAULT_DATABASE="nowhere",
    )
    assert message.splitlines()[1:] == [
        "  FLOV7_DATABASE_GHOST_READ_ONLY is set but database 'ghost' is not configured "
        "(set FLOV7_DATABASE_GHOST or FLOV7_DATABASES)",
        "  FLOV7_DEFAULT_DATABASE names 'nowhere', which is not configured; configured: main",
    ]

    message = config_error(monkeypatch, FLOV7_DATABASES='{"x": {"url": "sqlite://", "ro": 1}}')
    assert "FLOV7_DATABASES['x']: ro: Extra inputs are not permitted" in message


# --- The credential store -----------------------------------------------------------------


def store(extra: tuple[str, ...] = ()) -> CredentialStore:
    return CredentialStore(
        {
            "Token": parse_credential({"type": "bearer", "token": "tok-AAA"}),
            "login": parse_credential({"type": "basic", "username": "me", "password": "pw-BBB"}),
            "db": parse_credential({"type": "database", "url": "postgresql://u:db-CCC@h/d"}),
        },
        extra_secrets=extra,
    )


def test_store_lookup_is_case_insensitive_and_typed() -> None:
    credentials = store()
    assert credentials.names() == ["db", "login", "token"]
    token = credentials.get("TOKEN", BearerCredential)
    assert token.token.get_secret_value() == "tok-AAA"
    either = credentials.get("token", (BearerCredential, SecretCredential))
    assert either is token


def test_store_errors_are_clear_and_non_retryable() -> None:
    credentials = store()
    with pytest.raises(NodeExecutionError) as unknown:
        credentials.get("crm", BearerCredential)
    assert unknown.value.message.startswith(
        "Unknown credential 'crm'; configured: db, login, token"
    )
    assert "FLOV7_CREDENTIAL_CRM" in unknown.value.message
    assert unknown.value.retryable is False
    assert unknown.value.error_type == "CredentialError"

    with pytest.raises(NodeExecutionError) as wrong:
        credentials.get("login", (BearerCredential, SecretCredential))
    assert wrong.value.message == (
        "Credential 'login' is a basic credential; this needs a bearer or secret credential"
    )
    assert wrong.value.retryable is False

    with pytest.raises(NodeExecutionError, match="configured: none"):
        CredentialStore({}).get("x", SecretCredential)


def test_redaction_covers_every_form_of_a_secret() -> None:
    credentials = store(extra=("sk-EXTRA",))
    basic_b64 = "bWU6cHctQkJC"  # base64("me:pw-BBB"): what an Authorization header carries
    text = (
        "token tok-AAA, password pw-BBB, header Basic bWU6cHctQkJC, "
        "url postgresql://u:db-CCC@h/d, password db-CCC, key sk-EXTRA"
    )
    redacted = credentials.redact(text)
    for secret in ("tok-AAA", "pw-BBB", basic_b64, "db-CCC", "sk-EXTRA"):
        assert secret not in redacted
    assert redacted.startswith("token ***, password ***, header Basic ***, url ***")

    value = {"tok-AAA": ["x tok-AAA y", 3, None, {"k": "pw-BBB"}], "n": 1.5}
    assert credentials.redact_value(value) == {"***": ["x *** y", 3, None, {"k": "***"}], "n": 1.5}


def test_nothing_to_redact_without_secrets() -> None:
    assert CredentialStore({}).redact("tok-AAA") == "tok-AAA"


# --- Worker resources ---------------------------------------------------------------------


class Closable:
    """A shared object that records its closing."""

    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name

    async def aclose(self) -> None:
        self.log.append(self.name)


async def test_shared_objects_are_created_once_and_closed_newest_first(
    clean_env: Path,
) -> None:
    closed: list[str] = []
    created: list[str] = []

    def factory(name: str) -> Any:
        def make(resources: NodeResources) -> Closable:
            assert isinstance(resources, NodeResources)
            created.append(name)
            return Closable(closed, name)

        return make

    async with NodeResources.open(NodeSettings(_env_file=None)) as resources:
        first = resources.shared("databases", factory("databases"))
        assert resources.shared("databases", factory("other")) is first
        resources.shared("plain", lambda _: object())  # no aclose: left alone
        resources.shared("engines", factory("engines"))
        assert created == ["databases", "engines"]
        assert closed == []
    assert closed == ["engines", "databases"]
    assert resources.http.is_closed


async def test_resources_redact_settings_secrets(clean_env: Path) -> None:
    settings = NodeSettings(
        _env_file=None,
        credentials={"a": "secret-aaa"},
        databases={"d": {"url": "postgresql://u:db-pass@h/d"}},
        llm_api_key="sk-llm",
    )
    async with NodeResources.open(settings) as resources:
        assert resources.redact("secret-aaa db-pass sk-llm") == "*** *** ***"
        error = resources.redact_error(
            NodeExecutionError(
                "failed with secret-aaa",
                error_type="X",
                retryable=False,
                details={"echo": "sk-llm"},
                retry_after_seconds=3,
            )
        )
    assert (error.message, error.details, error.retryable, error.retry_after_seconds) == (
        "failed with ***",
        {"echo": "***"},
        False,
        3,
    )


async def test_unexpected_exceptions_are_redacted_and_retryable(clean_env: Path) -> None:
    settings = NodeSettings(_env_file=None, credentials={"a": "secret-aaa"})
    async with NodeResources.open(settings) as resources:
        with pytest.raises(NodeExecutionError) as caught, resources.redacting_errors():
            raise RuntimeError("driver said: bad password secret-aaa")
    assert caught.value.message == "RuntimeError: driver said: bad password ***"
    assert caught.value.retryable is True
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


def test_values_too_short_to_redact_are_left_alone_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="flov7.nodes.credentials"):
        credentials = CredentialStore({"tiny": parse_credential("t")})
    assert credentials.redact_value({"text": "t"}) == {"text": "t"}
    assert "Credential 'tiny' has a value shorter than 4 characters" in caplog.text
    assert "'t'" not in caplog.text
