"""Settings: defaults, environment and ``.env``, and the error messages users see."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from flov7.config import (
    Flov7Settings,
    NodeSettings,
    Settings,
    TemporalSettings,
    get_settings,
    load_settings,
    reset_settings_cache,
    settings_with,
)
from flov7.errors import ConfigError
from flov7.spec import ExecutionDefaults, LargePayloads, RetrySpec

# No variable or .env from the developer's shell or checkout leaks in.
pytestmark = pytest.mark.usefixtures("clean_env")


def _error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    return str(info.value)


def test_defaults_follow_the_guide() -> None:
    settings = load_settings()
    t = settings.temporal
    assert t.host is None
    assert t.uses_embedded_server
    assert t.namespace == "default"
    assert t.task_queue == "flov7-workflow-task-queue"
    assert t.start_worker is True
    # Not the guide's 10 and 5: slots sized for async I/O (issue 11); 5 stays a choice.
    assert (t.max_concurrent_workflows, t.max_concurrent_activities) == (100, 20)
    assert t.workflow_timeout == timedelta(minutes=30)
    assert t.activity_timeout == timedelta(minutes=5)
    assert t.node_timeout == timedelta(minutes=5)
    assert (t.workflow_max_retries, t.activity_max_retries) == (3, 3)
    assert t.workflow_initial_interval_seconds == 1
    assert t.workflow_backoff_coefficient == 2.0
    assert t.debug is False
    assert t.api_key is None and t.tls is False and not t.uses_tls
    assert t.connect_timeout == timedelta(seconds=10)

    f = settings.flov7
    assert f.data_dir == Path(".flov7").resolve()  # absolute from the start
    assert f.enable_temporal_features is True
    assert (f.devserver_port, f.devserver_ui_port, f.devserver_ui) == (7233, 8233, True)
    assert (f.log_level, f.log_format) == ("INFO", "auto")


def test_environment_overrides_every_guide_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "TEMPORAL_HOST": "temporal.internal:7234",
        "TEMPORAL_NAMESPACE": "orders",
        "TEMPORAL_TASK_QUEUE": "q1",
        "START_TEMPORAL_WORKER": "false",
        "TEMPORAL_MAX_CONCURRENT_WORKFLOWS": "20",
        "TEMPORAL_MAX_CONCURRENT_ACTIVITIES": "7",
        "TEMPORAL_WORKFLOW_TIMEOUT_MINUTES": "60",
        "TEMPORAL_ACTIVITY_TIMEOUT_MINUTES": "2",
        "TEMPORAL_NODE_TIMEOUT_MINUTES": "4",
        "TEMPORAL_WORKFLOW_MAX_RETRIES": "1",
        "TEMPORAL_ACTIVITY_MAX_RETRIES": "6",
        "TEMPORAL_WORKFLOW_INITIAL_INTERVAL_SECONDS": "0.5",
        "TEMPORAL_WORKFLOW_BACKOFF_COEFFICIENT": "1.5",
        "TEMPORAL_DEBUG": "true",
        "TEMPORAL_API_KEY": "secret-key",
        "TEMPORAL_CONNECT_TIMEOUT_SECONDS": "3",
        "FLOV7_DATA_DIR": "/var/lib/flov7",
        "ENABLE_TEMPORAL_FEATURES": "false",
        "FLOV7_DEVSERVER_PORT": "17233",
        "FLOV7_DEVSERVER_UI_PORT": "18233",
        "FLOV7_DEVSERVER_UI": "false",
        "FLOV7_LOG_LEVEL": "debug",
        "FLOV7_LOG_FORMAT": "JSON",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    settings = load_settings()
    t = settings.temporal
    assert t.host == "temporal.internal:7234" and not t.uses_embedded_server
    assert (t.namespace, t.task_queue, t.start_worker) == ("orders", "q1", False)
    assert (t.max_concurrent_workflows, t.max_concurrent_activities) == (20, 7)
    assert t.workflow_timeout == timedelta(hours=1)
    assert (t.activity_timeout_minutes, t.node_timeout_minutes) == (2, 4)
    assert (t.workflow_max_retries, t.activity_max_retries) == (1, 6)
    assert (t.workflow_initial_interval_seconds, t.workflow_backoff_coefficient) == (0.5, 1.5)
    assert t.debug is True
    assert t.api_key is not None and t.api_key.get_secret_value() == "secret-key"
    assert "secret-key" not in repr(t)
    assert t.uses_tls  # an API key implies TLS, as with the temporal CLI
    assert t.connect_timeout_seconds == 3

    f = settings.flov7
    assert f.data_dir == Path("/var/lib/flov7")
    assert f.enable_temporal_features is False
    assert (f.devserver_port, f.devserver_ui_port, f.devserver_ui) == (17233, 18233, False)
    assert (f.log_level, f.log_format) == ("DEBUG", "json")


def test_dotenv_file_in_working_directory_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "# the guide's example .env\n"
        "TEMPORAL_HOST=localhost:7233\n"
        "TEMPORAL_TASK_QUEUE=from-dotenv\n"
        "TEMPORAL_NODE_TIMEOUT_MINUTES=9\n"
        "ENABLE_TEMPORAL_FEATURES=false\n"
        "DATABASE_URL=postgresql://elsewhere/db\n"  # other tools' keys are ignored
    )
    monkeypatch.setenv("TEMPORAL_TASK_QUEUE", "from-env")  # the environment wins

    settings = load_settings()
    assert settings.temporal.host == "localhost:7233"
    assert settings.temporal.node_timeout_minutes == 9
    assert settings.temporal.task_queue == "from-env"
    assert settings.flov7.enable_temporal_features is False

    assert load_settings(env_file=None).temporal.host is None


def test_empty_host_means_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_HOST", "")
    assert load_settings().temporal.uses_embedded_server
    assert TemporalSettings(host="  ").host is None


def test_settings_can_be_built_with_python_names() -> None:
    t = TemporalSettings(host="h:1", node_timeout_minutes=2, start_worker=False)
    assert (t.host, t.node_timeout, t.start_worker) == ("h:1", timedelta(minutes=2), False)
    assert Flov7Settings(devserver_port=1234).devserver_port == 1234


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "TEMPORAL_NODE_TIMEOUT_MINUTES",
            "-1",
            "TEMPORAL_NODE_TIMEOUT_MINUTES must be greater than 0, got -1",
        ),
        (
            "TEMPORAL_WORKFLOW_TIMEOUT_MINUTES",
            "0",
            "TEMPORAL_WORKFLOW_TIMEOUT_MINUTES must be greater than 0, got 0",
        ),
        (
            "TEMPORAL_ACTIVITY_TIMEOUT_MINUTES",
            "-0.5",
            "TEMPORAL_ACTIVITY_TIMEOUT_MINUTES must be greater than 0, got -0.5",
        ),
        (
            "TEMPORAL_MAX_CONCURRENT_ACTIVITIES",
            "0",
            "TEMPORAL_MAX_CONCURRENT_ACTIVITIES must be greater than 0, got 0",
        ),
        (
            "TEMPORAL_MAX_CONCURRENT_WORKFLOWS",
            "-3",
            "TEMPORAL_MAX_CONCURRENT_WORKFLOWS must be greater than 0, got -3",
        ),
        (
            "TEMPORAL_CONNECT_TIMEOUT_SECONDS",
            "0",
            "TEMPORAL_CONNECT_TIMEOUT_SECONDS must be greater than 0, got 0",
        ),
        (
            "TEMPORAL_WORKFLOW_INITIAL_INTERVAL_SECONDS",
            "0",
            "TEMPORAL_WORKFLOW_INITIAL_INTERVAL_SECONDS must be greater than 0, got 0",
        ),
        (
            "TEMPORAL_ACTIVITY_MAX_RETRIES",
            "0",
            "TEMPORAL_ACTIVITY_MAX_RETRIES must be at least 1 (it counts attempts, "
            "the first one included), got 0",
        ),
        (
            "TEMPORAL_WORKFLOW_MAX_RETRIES",
            "-1",
            "TEMPORAL_WORKFLOW_MAX_RETRIES must be at least 1",
        ),
        (
            "TEMPORAL_ACTIVITY_MAX_RETRIES",
            "1000",
            "TEMPORAL_ACTIVITY_MAX_RETRIES must be at most 100, got 1000",
        ),
        (
            "TEMPORAL_WORKFLOW_BACKOFF_COEFFICIENT",
            "0.5",
            "TEMPORAL_WORKFLOW_BACKOFF_COEFFICIENT must be between 1 and 100, got 0.5",
        ),
        (
            "TEMPORAL_HOST",
            "localhost",
            "TEMPORAL_HOST must look like host:port, e.g. localhost:7233; got 'localhost'",
        ),
        (
            "TEMPORAL_HOST",
            "localhost:http",
            "TEMPORAL_HOST must look like host:port, e.g. localhost:7233; got 'localhost:http'",
        ),
        (
            "TEMPORAL_HOST",
            "localhost:70000",
            "TEMPORAL_HOST must look like host:port, e.g. localhost:7233; got 'localhost:70000'",
        ),
        (
            "TEMPORAL_HOST",
            ":7233",
            "TEMPORAL_HOST must look like host:port, e.g. localhost:7233; got ':7233'",
        ),
        (
            "TEMPORAL_MAX_CONCURRENT_WORKFLOWS",
            "ten",
            "TEMPORAL_MAX_CONCURRENT_WORKFLOWS: Input should be a valid integer",
        ),
        (
            "START_TEMPORAL_WORKER",
            "maybe",
            "START_TEMPORAL_WORKER: Input should be a valid boolean",
        ),
        (
            "TEMPORAL_TLS_CA_PATH",
            "/no/such/ca.pem",
            "TEMPORAL_TLS_CA_PATH: no such file: '/no/such/ca.pem'",
        ),
        (
            "FLOV7_DEVSERVER_PORT",
            "0",
            "FLOV7_DEVSERVER_PORT must be a port number between 1 and 65535, got 0",
        ),
        (
            "FLOV7_LOG_FORMAT",
            "xml",
            "FLOV7_LOG_FORMAT must be 'auto', 'text' or 'json', got 'xml'",
        ),
        (
            "FLOV7_LOG_LEVEL",
            "loud",
            "FLOV7_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'loud'",
        ),
        (
            "FLOV7_DEVSERVER_UI_PORT",
            "7233",
            "FLOV7_DEVSERVER_UI_PORT must differ from FLOV7_DEVSERVER_PORT (both are 7233)",
        ),
    ],
)
def test_each_bad_variable_is_named_in_the_error(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    text = _error(monkeypatch, **{name: value})
    assert text.startswith("Invalid configuration:\n  ")
    assert message in text
    assert "Value error" not in text  # pydantic's prefix is stripped


def test_all_problems_are_reported_at_once_one_line_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = _error(
        monkeypatch,
        TEMPORAL_HOST="localhost",
        TEMPORAL_NODE_TIMEOUT_MINUTES="-1",
        FLOV7_DEVSERVER_PORT="99999",
    )
    lines = text.splitlines()[1:]
    assert len(lines) == 3
    assert any(line.strip().startswith("TEMPORAL_HOST ") for line in lines)
    assert any(line.strip().startswith("TEMPORAL_NODE_TIMEOUT_MINUTES ") for line in lines)
    assert any(line.strip().startswith("FLOV7_DEVSERVER_PORT ") for line in lines)
    # Users set variables, not Python fields: the field names never show.
    assert "node_timeout_minutes" not in text and "devserver_port" not in text


def test_tls_client_cert_needs_its_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    text = _error(monkeypatch, TEMPORAL_HOST="x.tmprl.cloud:7233", TEMPORAL_TLS_CERT_PATH=str(cert))
    assert "TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together" in text

    key = tmp_path / "client.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    monkeypatch.setenv("TEMPORAL_TLS_KEY_PATH", str(key))
    t = load_settings().temporal
    assert (t.tls_cert_path, t.tls_key_path, t.uses_tls) == (cert, key, True)


def test_execution_defaults_come_from_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ACTIVITY_TIMEOUT_MINUTES", "2")
    monkeypatch.setenv("TEMPORAL_NODE_TIMEOUT_MINUTES", "7")
    monkeypatch.setenv("TEMPORAL_ACTIVITY_MAX_RETRIES", "4")
    monkeypatch.setenv("TEMPORAL_WORKFLOW_INITIAL_INTERVAL_SECONDS", "3")
    monkeypatch.setenv("TEMPORAL_WORKFLOW_BACKOFF_COEFFICIENT", "1.5")

    defaults = load_settings().temporal.execution_defaults()
    assert defaults == ExecutionDefaults(
        activity_timeout_seconds=120,
        node_timeout_seconds=420,
        retry=RetrySpec(
            max_attempts=4,
            initial_interval_seconds=3,
            backoff_coefficient=1.5,
            max_interval_seconds=10,
        ),
        # The embedded setup has a payload store by default (docs/reliability.md).
        large_payloads=LargePayloads(threshold_bytes=256 * 1024, max_output_bytes=64 * 1024**2),
    )


def test_default_execution_defaults_match_the_spec_defaults() -> None:
    # Apart from the payload store, which a starter stamps only when it has one (the
    # embedded setup by default; spec default None: Temporal's own limits).
    stamped = load_settings().temporal.execution_defaults()
    assert stamped.large_payloads is not None
    assert stamped.model_copy(update={"large_payloads": None}) == ExecutionDefaults()


def test_retry_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_WORKFLOW_MAX_RETRIES", "5")
    monkeypatch.setenv("TEMPORAL_ACTIVITY_MAX_RETRIES", "2")
    t = load_settings().temporal

    workflow = t.workflow_retry_policy()
    assert workflow.maximum_attempts == 5
    assert workflow.initial_interval == timedelta(seconds=1)
    assert workflow.backoff_coefficient == 2.0
    assert workflow.maximum_interval == timedelta(seconds=10)
    assert t.activity_retry_policy().maximum_attempts == 2


def test_max_interval_never_below_initial_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    # Temporal rejects maximum_interval < initial_interval; the 10 s cap yields.
    monkeypatch.setenv("TEMPORAL_WORKFLOW_INITIAL_INTERVAL_SECONDS", "30")
    t = load_settings().temporal
    assert t.workflow_retry_policy().maximum_interval == timedelta(seconds=30)
    assert t.execution_defaults().retry.max_interval_seconds == 30


def test_get_settings_is_cached_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    assert isinstance(first, Settings)
    monkeypatch.setenv("TEMPORAL_TASK_QUEUE", "changed")
    assert get_settings() is first
    reset_settings_cache()
    assert get_settings().temporal.task_queue == "changed"


def test_get_settings_raises_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_HOST", "nope")
    with pytest.raises(ConfigError, match="TEMPORAL_HOST must look like host:port"):
        get_settings()


def test_temporal_config_module_reexports_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flov7.temporal import config as temporal_config

    assert temporal_config.TemporalSettings is TemporalSettings
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "ns1")
    assert temporal_config.get_temporal_settings().namespace == "ns1"


# --- Node settings are part of the one tree -------------------------------------------------


def test_node_settings_are_read_with_the_rest_of_the_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOV7_OUTBOUND_ALLOWLIST", "127.0.0.1,api.internal:8443")
    monkeypatch.setenv("FLOV7_CREDENTIAL_CRM", "crm-secret")
    settings = load_settings()
    assert settings.nodes.outbound_allowlist == ("127.0.0.1", "api.internal:8443")
    assert settings.nodes.credentials["crm"].secret_values() == ["crm-secret"]
    # Read once: changing the environment afterwards changes nothing for this tree.
    monkeypatch.setenv("FLOV7_OUTBOUND_ALLOWLIST", "10.0.0.0/8")
    assert settings.nodes.outbound_allowlist == ("127.0.0.1", "api.internal:8443")


def test_a_bad_node_variable_is_reported_with_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _error(
        monkeypatch,
        TEMPORAL_HOST="localhost",
        FLOV7_HTTP_MAX_CONNECTIONS="0",
        FLOV7_CREDENTIALS="{not json",
    )
    lines = [line.strip() for line in text.splitlines()[1:]]
    assert text.startswith("Invalid configuration:\n  ")
    assert len(lines) == 3
    assert any(line.startswith("TEMPORAL_HOST ") for line in lines)
    assert "FLOV7_HTTP_MAX_CONNECTIONS must be greater than 0, got 0" in lines
    assert any(line.startswith("FLOV7_CREDENTIALS must be a JSON object") for line in lines)
    assert "not json" not in text  # the value may hold secrets


def test_settings_built_in_code_read_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOV7_OUTBOUND_ALLOWLIST", "10.0.0.0/8")
    monkeypatch.setenv("FLOV7_LOG_LEVEL", "debug")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "from-env")
    Path(".env").write_text("FLOV7_CREDENTIAL_X=from-dotenv\n")

    tree = settings_with(nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"))
    assert tree.nodes.outbound_allowlist == ("127.0.0.1",)
    assert tree.nodes.credentials == {}
    assert tree.flov7.log_level == "INFO"
    assert tree.temporal.namespace == "default"
    # A tree built from groups gets default (not environment) node settings.
    plain = Settings(temporal=tree.temporal, flov7=tree.flov7)
    assert plain.nodes.outbound_allowlist == ()
    assert NodeSettings.from_values(FLOV7_HTTP_MAX_CONNECTIONS=7).http_max_connections == 7
    with pytest.raises(ValueError, match="FLOV7_HTTP_MAX_CONNECTIONS must be greater than 0"):
        NodeSettings.from_values(http_max_connections=0)
