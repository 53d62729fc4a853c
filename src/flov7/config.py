"""Flov7 settings, read from the environment and from a ``.env`` file in the working directory.

One tree, :class:`Settings`, of three groups, each a pydantic-settings class:

- :class:`TemporalSettings`: the ``TEMPORAL_*`` variables of the integration guide (plus
  ``START_TEMPORAL_WORKER``). Their names are a public contract, so every field spells its
  variable out in full (``validation_alias``) instead of deriving it from a prefix.
- :class:`Flov7Settings`: the service's own knobs (``FLOV7_*``, plus the guide's
  ``ENABLE_TEMPORAL_FEATURES``).
- :class:`~flov7.nodes.settings.NodeSettings`: what the I/O nodes use (outbound
  allow-list, HTTP limits, credentials, databases, LLM endpoints; ``FLOV7_*`` too).

The environment is read once, by :func:`load_settings` (or :func:`get_settings`, which
caches it), when a process starts; everything below receives its part of the tree
(``settings.nodes`` goes to :class:`~flov7.nodes.resources.NodeResources`) and nothing
reads the environment again. Code and tests build a tree without the environment with
:func:`settings_with` (or ``Settings(...)`` of groups built with ``from_values``).

:func:`get_settings` and :func:`load_settings` raise
:class:`flov7.errors.ConfigError` with one line per bad variable, naming the variable::

    Invalid configuration:
      TEMPORAL_HOST must look like host:port, e.g. localhost:7233; got 'localhost'
      TEMPORAL_NODE_TIMEOUT_MINUTES must be greater than 0, got -1

Precedence: real environment variables win over ``.env``, which wins over the defaults.
An empty variable (``TEMPORAL_HOST=``) counts as unset.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings

from flov7.env_settings import EnvSettings
from flov7.errors import ConfigError
from flov7.nodes.settings import NodeSettings, describe_node_errors
from flov7.security.approvals import ApprovalSigner, load_signing_key
from flov7.spec import ExecutionDefaults, LargePayloads, RetrySpec

if TYPE_CHECKING:
    # Only the two policy builders need the SDK, and import it when called: settings
    # are read by every process, the local engine's included, which never loads it.
    from temporalio.common import RetryPolicy

    from flov7.security.encryption import KeyRing

DEFAULT_TASK_QUEUE = "flov7-workflow-task-queue"
"""The guide's task queue (``TEMPORAL_TASK_QUEUE``)."""

__all__ = [
    "DEFAULT_TASK_QUEUE",
    "MAX_RETRY_INTERVAL_SECONDS",
    "EnvSettings",
    "Flov7Settings",
    "NodeSettings",
    "Settings",
    "TemporalSettings",
    "get_settings",
    "load_settings",
    "reset_settings_cache",
    "settings_with",
    "with_default_payload_store",
]


MAX_RETRY_INTERVAL_SECONDS = 10.0
"""The guide's cap on the wait between two retries (workflow and activity policies)."""

# Same bounds as flov7.spec.RetrySpec, checked here so that a bad variable is reported
# under its own name at startup rather than as a RetrySpec error on the first run.
_MAX_ATTEMPTS_LIMIT = 100
_MAX_INITIAL_INTERVAL_SECONDS = 3600.0
_MAX_BACKOFF_COEFFICIENT = 100.0

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Never echoed back in configuration errors.
_SECRET_VARIABLES = frozenset(
    {"TEMPORAL_API_KEY", "FLOV7_API_KEYS", "FLOV7_DATABASE_URL", "FLOV7_ENCRYPTION_KEYS"}
)


def _env_name(cls: type[BaseSettings], field_name: str | None) -> str:
    """The environment variable behind a field (its validation alias)."""
    if field_name is None:
        return "?"
    field = cls.model_fields.get(field_name)
    alias = field.validation_alias if field is not None else None
    return alias if isinstance(alias, str) else field_name.upper()


def _show(value: float) -> str:
    """``-1`` rather than ``-1.0`` in messages, since users typed an integer."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_port(cls: type[BaseSettings], value: int, info: ValidationInfo) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(
            f"{_env_name(cls, info.field_name)} must be a port number between 1 and 65535, "
            f"got {value}"
        )
    return value


def _check_host(value: str) -> str:
    """Validate ``host:port`` (IPv6 literals as ``[::1]:7233``)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(
            f"TEMPORAL_HOST must look like host:port, e.g. localhost:7233; got {value!r}"
        )
    return value


class TemporalSettings(EnvSettings):
    """How Flov7 reaches Temporal and the defaults its runs get (``TEMPORAL_*``).

    Retry counts are *attempt* counts, as in Temporal's ``maximum_attempts``:
    ``TEMPORAL_ACTIVITY_MAX_RETRIES=3`` means one attempt and up to two retries, and
    ``1`` means no retry. They must be at least 1: Temporal's ``0`` ("retry forever") is
    not offered, since a run that never gives up should not come from a typo.
    """

    # --- Connection -------------------------------------------------------------------
    host: str | None = Field(default=None, validation_alias="TEMPORAL_HOST")
    """``host:port`` of an external Temporal frontend; unset = the embedded dev server."""
    namespace: str = Field(default="default", min_length=1, validation_alias="TEMPORAL_NAMESPACE")
    task_queue: str = Field(
        default=DEFAULT_TASK_QUEUE, min_length=1, validation_alias="TEMPORAL_TASK_QUEUE"
    )
    api_key: SecretStr | None = Field(default=None, validation_alias="TEMPORAL_API_KEY")
    """API key (Temporal Cloud). Turns TLS on, like the ``temporal`` CLI does."""
    tls: bool = Field(default=False, validation_alias="TEMPORAL_TLS")
    """TLS with the system roots. Also on when an API key or any TLS path is set."""
    tls_cert_path: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_CERT_PATH")
    """Client certificate (mTLS), PEM; goes with :attr:`tls_key_path`."""
    tls_key_path: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_KEY_PATH")
    """Client private key (mTLS), PEM."""
    tls_ca_path: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_CA_PATH")
    """Server CA certificate, PEM, when the server's certificate is not publicly trusted."""
    tls_server_name: str | None = Field(default=None, validation_alias="TEMPORAL_TLS_SERVER_NAME")
    """Name to check the server's certificate against (SNI), when it differs from the
    host of ``TEMPORAL_HOST`` (an IP address, a load balancer, a tunnel)."""
    connect_timeout_seconds: float = Field(
        default=10, validation_alias="TEMPORAL_CONNECT_TIMEOUT_SECONDS"
    )
    encryption_keys: SecretStr | None = Field(
        default=None, validation_alias="FLOV7_ENCRYPTION_KEYS"
    )
    """Payload encryption (a Flov7 variable, not the guide's): ``id:base64key[,...]``,
    32-byte AES-256 keys (``flov7 encryption-key`` makes one). The first key encrypts
    every payload this process sends to Temporal, embedded server included; all of
    them decrypt. Unset = payloads in clear."""

    # --- Large payloads by reference (docs/reliability.md) --------------------------------
    payload_store: Literal["auto", "off"] = Field(
        default="auto", validation_alias="FLOV7_PAYLOAD_STORE"
    )
    """``auto``: payloads over ``FLOV7_PAYLOAD_STORE_THRESHOLD_BYTES`` go to the payload
    store when there is one (``FLOV7_PAYLOAD_STORE_DIR``, or by default
    ``<FLOV7_DATA_DIR>/payloads`` with the embedded server); ``off``: every payload stays
    inline in Temporal's history (node outputs then stop at 1 MB)."""
    payload_store_dir: Path | None = Field(default=None, validation_alias="FLOV7_PAYLOAD_STORE_DIR")
    """Directory of the payload store (claim check: large payloads live there, Temporal's
    history holds a reference). Unset: ``<FLOV7_DATA_DIR>/payloads`` with the embedded
    server, none with ``TEMPORAL_HOST``. Every process (API, CLI, each worker) must see
    the same directory: several machines need a shared file system."""
    payload_store_threshold_bytes: int = Field(
        default=256 * 1024, validation_alias="FLOV7_PAYLOAD_STORE_THRESHOLD_BYTES"
    )
    """Payloads of at least this many bytes (encoded, encrypted when encryption is on)
    go to the payload store; smaller ones stay in the history."""
    max_large_output_bytes: int = Field(
        default=64 * 1024 * 1024, validation_alias="FLOV7_MAX_LARGE_OUTPUT_BYTES"
    )
    """Largest node output (and activity input, and result document) when a payload store
    is on; a node over it fails with ``OutputTooLarge``. Without a store: 1 MB."""

    # --- Worker -----------------------------------------------------------------------
    start_worker: bool = Field(default=True, validation_alias="START_TEMPORAL_WORKER")
    """Run a worker inside the API process (otherwise run ``flov7 worker`` separately)."""
    max_concurrent_workflows: int = Field(
        default=100, validation_alias="TEMPORAL_MAX_CONCURRENT_WORKFLOWS"
    )
    """Workflow tasks a worker processes at once (not a cap on open runs). Workflow tasks
    are short (the engine is pure code; I/O waits outside them), so many concurrent runs
    need many slots, not many cores."""
    max_concurrent_activities: int = Field(
        default=20, validation_alias="TEMPORAL_MAX_CONCURRENT_ACTIVITIES"
    )
    """I/O nodes a worker runs at once, each kind: regular activities and local activities
    (short I/O nodes) get this many slots apiece. Nodes are async I/O, so slots are cheap:
    size them for fan-out, not for cores. Under 10 slots the SDK's eager hand-off of an
    activity to the worker that scheduled it stops, costing each regular-activity node an
    extra round trip through the server; the guide's 5 remains a valid choice."""

    # --- Timeouts (minutes) -------------------------------------------------------------
    workflow_timeout_minutes: float = Field(
        default=30, validation_alias="TEMPORAL_WORKFLOW_TIMEOUT_MINUTES"
    )
    """Whole run (Temporal execution timeout, retries of the workflow included)."""
    activity_timeout_minutes: float = Field(
        default=5, validation_alias="TEMPORAL_ACTIVITY_TIMEOUT_MINUTES"
    )
    """One attempt of an I/O node (start-to-close)."""
    node_timeout_minutes: float = Field(default=5, validation_alias="TEMPORAL_NODE_TIMEOUT_MINUTES")
    """One I/O node across all its attempts and backoffs (schedule-to-close)."""

    # --- Retries ----------------------------------------------------------------------
    workflow_max_retries: int = Field(default=3, validation_alias="TEMPORAL_WORKFLOW_MAX_RETRIES")
    """Maximum attempts of a whole run (see the class docstring: attempts, not retries)."""
    activity_max_retries: int = Field(default=3, validation_alias="TEMPORAL_ACTIVITY_MAX_RETRIES")
    """Maximum attempts of one I/O node."""
    workflow_initial_interval_seconds: float = Field(
        default=1, validation_alias="TEMPORAL_WORKFLOW_INITIAL_INTERVAL_SECONDS"
    )
    """First wait before a retry, for runs and for nodes (the guide uses one value)."""
    workflow_backoff_coefficient: float = Field(
        default=2.0, validation_alias="TEMPORAL_WORKFLOW_BACKOFF_COEFFICIENT"
    )

    debug: bool = Field(default=False, validation_alias="TEMPORAL_DEBUG")
    """Verbose Temporal logging (worker, client, embedded server)."""
    workflow_sandbox: bool = Field(default=False, validation_alias="FLOV7_WORKFLOW_SANDBOX")
    """Run Flov7's workflows in the SDK's workflow sandbox (``true``), or without it (the
    default: about a third less CPU per node; determinism is checked by the replay tests,
    which always use the full sandbox). See docs/architecture.md, "Workflow sandbox"."""

    @field_validator("host", mode="before")
    @classmethod
    def _blank_host_is_embedded(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("host")
    @classmethod
    def _host_has_port(cls, value: str | None) -> str | None:
        return None if value is None else _check_host(value)

    @field_validator(
        "connect_timeout_seconds",
        "max_concurrent_workflows",
        "max_concurrent_activities",
        "workflow_timeout_minutes",
        "activity_timeout_minutes",
        "node_timeout_minutes",
        "workflow_initial_interval_seconds",
    )
    @classmethod
    def _positive(cls, value: float, info: ValidationInfo) -> float:
        if value <= 0:
            raise ValueError(
                f"{_env_name(cls, info.field_name)} must be greater than 0, got {_show(value)}"
            )
        if info.field_name == "workflow_initial_interval_seconds" and (
            value > _MAX_INITIAL_INTERVAL_SECONDS
        ):
            raise ValueError(
                f"TEMPORAL_WORKFLOW_INITIAL_INTERVAL_SECONDS must be at most "
                f"{_show(_MAX_INITIAL_INTERVAL_SECONDS)}, got {_show(value)}"
            )
        return value

    @field_validator("workflow_max_retries", "activity_max_retries")
    @classmethod
    def _attempts(cls, value: int, info: ValidationInfo) -> int:
        name = _env_name(cls, info.field_name)
        if value < 1:
            raise ValueError(
                f"{name} must be at least 1 (it counts attempts, the first one included), "
                f"got {value}"
            )
        if value > _MAX_ATTEMPTS_LIMIT:
            raise ValueError(f"{name} must be at most {_MAX_ATTEMPTS_LIMIT}, got {value}")
        return value

    @field_validator("workflow_backoff_coefficient")
    @classmethod
    def _backoff(cls, value: float) -> float:
        if not 1 <= value <= _MAX_BACKOFF_COEFFICIENT:
            raise ValueError(
                "TEMPORAL_WORKFLOW_BACKOFF_COEFFICIENT must be between 1 and "
                f"{_show(_MAX_BACKOFF_COEFFICIENT)}, got {_show(value)}"
            )
        return value

    @field_validator("tls_cert_path", "tls_key_path", "tls_ca_path")
    @classmethod
    def _existing_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        value = value.expanduser()
        if not value.is_file():
            raise ValueError(f"{_env_name(cls, info.field_name)}: no such file: '{value}'")
        return value

    @field_validator("payload_store_dir", mode="before")
    @classmethod
    def _blank_dir_is_unset(cls, value: Any) -> Any:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("payload_store_dir")
    @classmethod
    def _absolute_dir(cls, value: Path | None) -> Path | None:
        # Absolute from the start, like FLOV7_DATA_DIR: the API, the CLI and the worker
        # must all mean the same directory whatever their working directory.
        return None if value is None else value.expanduser().resolve()

    @field_validator("payload_store_threshold_bytes")
    @classmethod
    def _threshold(cls, value: int) -> int:
        # Under 1 KiB every small payload would pay a file round trip; over 1 MB a
        # payload under the threshold could pass Temporal's 2 MB once encoded.
        if not 1024 <= value <= 1_000_000:
            raise ValueError(
                f"FLOV7_PAYLOAD_STORE_THRESHOLD_BYTES must be between 1024 and 1000000, got {value}"
            )
        return value

    @field_validator("max_large_output_bytes")
    @classmethod
    def _large_output(cls, value: int) -> int:
        # A node output is held whole in the worker's memory (and the workflow's): a
        # ceiling of 1 GiB keeps a typo from promising what no worker can hold.
        if not 1_000_000 <= value <= 1024**3:
            raise ValueError(
                f"FLOV7_MAX_LARGE_OUTPUT_BYTES must be between 1000000 and 1073741824, got {value}"
            )
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _encryption_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from flov7.security.encryption import KeyRing

            KeyRing.parse(value.get_secret_value())  # ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> Self:
        if (self.tls_cert_path is None) != (self.tls_key_path is None):
            raise ValueError(
                "TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together (mTLS)"
            )
        return self

    # --- Derived values -----------------------------------------------------------------

    @property
    def key_ring(self) -> KeyRing | None:
        """The payload encryption keys, or None when payloads go in clear."""
        if self.encryption_keys is None:
            return None
        from flov7.security.encryption import KeyRing

        return KeyRing.parse(self.encryption_keys.get_secret_value())

    @property
    def payload_store_path(self) -> Path | None:
        """The payload store's directory, or None when every payload stays inline."""
        if self.payload_store == "off":
            return None
        return self.payload_store_dir

    @property
    def large_payloads(self) -> LargePayloads | None:
        """What runs started with these settings stamp into their defaults: the store's
        threshold and the larger output limit, or None without a store."""
        if self.payload_store_path is None:
            return None
        return LargePayloads(
            threshold_bytes=self.payload_store_threshold_bytes,
            max_output_bytes=self.max_large_output_bytes,
        )

    @property
    def uses_embedded_server(self) -> bool:
        """True when no ``TEMPORAL_HOST`` is set: Flov7 runs its own dev server."""
        return self.host is None

    @property
    def uses_tls(self) -> bool:
        """TLS is on when asked for, or implied by an API key or a TLS file (as in the CLI)."""
        return bool(
            self.tls
            or self.api_key is not None
            or self.tls_cert_path is not None
            or self.tls_ca_path is not None
            or self.tls_server_name is not None
        )

    @property
    def workflow_timeout(self) -> timedelta:
        """``TEMPORAL_WORKFLOW_TIMEOUT_MINUTES`` as a timedelta (workflow execution timeout)."""
        return timedelta(minutes=self.workflow_timeout_minutes)

    @property
    def activity_timeout(self) -> timedelta:
        """``TEMPORAL_ACTIVITY_TIMEOUT_MINUTES``: one attempt (start-to-close)."""
        return timedelta(minutes=self.activity_timeout_minutes)

    @property
    def node_timeout(self) -> timedelta:
        """``TEMPORAL_NODE_TIMEOUT_MINUTES``: one node, all attempts (schedule-to-close)."""
        return timedelta(minutes=self.node_timeout_minutes)

    @property
    def connect_timeout(self) -> timedelta:
        """``TEMPORAL_CONNECT_TIMEOUT_SECONDS`` as a timedelta."""
        return timedelta(seconds=self.connect_timeout_seconds)

    @property
    def max_retry_interval_seconds(self) -> float:
        """The guide's 10 s cap, raised to the initial interval if that is longer.

        Temporal rejects a policy whose maximum interval is below its initial interval.
        """
        return max(MAX_RETRY_INTERVAL_SECONDS, self.workflow_initial_interval_seconds)

    def execution_defaults(self) -> ExecutionDefaults:
        """The per-run defaults a starter stamps into the workflow input.

        Workflow code must not read the environment (a replay on another worker would
        see other values), so these travel with the run.
        """
        return ExecutionDefaults(
            activity_timeout_seconds=self.activity_timeout_minutes * 60,
            node_timeout_seconds=self.node_timeout_minutes * 60,
            retry=RetrySpec(
                max_attempts=self.activity_max_retries,
                initial_interval_seconds=self.workflow_initial_interval_seconds,
                backoff_coefficient=self.workflow_backoff_coefficient,
                max_interval_seconds=self.max_retry_interval_seconds,
            ),
            large_payloads=self.large_payloads,
        )

    def workflow_retry_policy(self) -> RetryPolicy:
        """Retry policy of a whole run (``TEMPORAL_WORKFLOW_*``).

        A workflow retry re-runs the run from the start, as a new run of the same id.
        """
        from temporalio.common import RetryPolicy

        return RetryPolicy(
            initial_interval=timedelta(seconds=self.workflow_initial_interval_seconds),
            backoff_coefficient=self.workflow_backoff_coefficient,
            maximum_interval=timedelta(seconds=self.max_retry_interval_seconds),
            maximum_attempts=self.workflow_max_retries,
        )

    def activity_retry_policy(self) -> RetryPolicy:
        """Default retry policy of an I/O node (``TEMPORAL_ACTIVITY_MAX_RETRIES`` attempts)."""
        from temporalio.common import RetryPolicy

        return RetryPolicy(
            initial_interval=timedelta(seconds=self.workflow_initial_interval_seconds),
            backoff_coefficient=self.workflow_backoff_coefficient,
            maximum_interval=timedelta(seconds=self.max_retry_interval_seconds),
            maximum_attempts=self.activity_max_retries,
        )


class Flov7Settings(EnvSettings):
    """The service's own settings (``FLOV7_*`` and the guide's ``ENABLE_TEMPORAL_FEATURES``)."""

    data_dir: Path = Field(default=Path(".flov7"), validation_alias="FLOV7_DATA_DIR")
    """Where the embedded Temporal server and the service keep their SQLite files and logs."""
    enable_temporal_features: bool = Field(
        default=True, validation_alias="ENABLE_TEMPORAL_FEATURES"
    )
    """False runs workflows with the in-process local runtime instead of Temporal."""
    devserver_port: int = Field(default=7233, validation_alias="FLOV7_DEVSERVER_PORT")
    """gRPC port of the embedded Temporal dev server (used when TEMPORAL_HOST is unset)."""
    devserver_ui_port: int = Field(default=8233, validation_alias="FLOV7_DEVSERVER_UI_PORT")
    devserver_ui: bool = Field(default=True, validation_alias="FLOV7_DEVSERVER_UI")
    """Serve the Temporal Web UI from the embedded server."""
    log_level: str = Field(default="INFO", validation_alias="FLOV7_LOG_LEVEL")
    log_format: Literal["auto", "text", "json"] = Field(
        default="auto", validation_alias="FLOV7_LOG_FORMAT"
    )
    """``auto``: JSON lines when stderr is not a terminal, readable text when it is."""

    # --- REST API (``flov7 serve``) ------------------------------------------------------
    api_host: str = Field(default="127.0.0.1", min_length=1, validation_alias="FLOV7_API_HOST")
    """Address ``flov7 serve`` listens on. Anything but the loopback needs API keys."""
    api_port: int = Field(default=8002, validation_alias="FLOV7_API_PORT")
    """Port ``flov7 serve`` listens on (the integration guide's 8002)."""
    api_keys: SecretStr | None = Field(default=None, validation_alias="FLOV7_API_KEYS")
    """Comma-separated raw API keys; only their hashes are kept in memory (see
    :attr:`api_key_list`). Keys made with ``flov7 api-key create`` live in the store."""
    allow_unauthenticated: bool = Field(
        default=False, validation_alias="FLOV7_ALLOW_UNAUTHENTICATED"
    )
    """Serve without API keys on a non-loopback address (``--insecure-no-auth``)."""
    database_url: SecretStr | None = Field(default=None, validation_alias="FLOV7_DATABASE_URL")
    """The service's store: ``sqlite+aiosqlite:///path`` or ``postgresql+asyncpg://...``
    (``sqlite://`` / ``postgresql://`` get the async driver). Unset: a SQLite file
    ``flov7.db`` in the data directory. A secret, since URLs carry passwords."""
    max_request_bytes: int = Field(
        default=4 * 1024 * 1024, validation_alias="FLOV7_MAX_REQUEST_BYTES"
    )
    """Largest request body the API accepts (larger ones get 413). The default, 4 MiB,
    takes a workflow document of about 5,000 nodes (Temporal runs far larger ones)."""
    worker_liveness_seconds: float = Field(
        default=75.0, gt=0, validation_alias="FLOV7_WORKER_LIVENESS_SECONDS"
    )
    """A worker whose last poll of the task queue is older than this counts as gone.
    An idle worker re-polls at least every minute (Temporal's long-poll expiry)."""

    # --- automation (docs/triggers.md) ---------------------------------------------------
    public_url: str = Field(default="", validation_alias="FLOV7_PUBLIC_URL")
    """Where people and other services reach this API (approval links, hook URLs);
    unset: ``http://FLOV7_API_HOST:FLOV7_API_PORT``."""
    approval_signing_key: SecretStr | None = Field(
        default=None, validation_alias="FLOV7_APPROVAL_SIGNING_KEY", repr=False
    )
    """Signs approval links and derives hmac hook secrets; unset: a random key generated
    once and kept in ``<data dir>/approval-signing.key``. Workers and the API must share
    it."""

    # --- Operations (docs/operations.md) ------------------------------------------------
    metrics_host: str = Field(
        default="127.0.0.1", min_length=1, validation_alias="FLOV7_METRICS_HOST"
    )
    """Address ``flov7 worker`` serves ``/metrics`` on (``0.0.0.0`` in a container)."""
    metrics_port: int = Field(default=9464, ge=0, le=65535, validation_alias="FLOV7_METRICS_PORT")
    """Port of ``flov7 worker``'s ``/metrics`` (``flov7_*``); 0 turns it off. ``flov7
    serve`` serves ``/metrics`` on the API port instead."""
    metrics_require_key: bool = Field(default=False, validation_alias="FLOV7_METRICS_REQUIRE_KEY")
    """Ask for an API key on the API's ``/metrics`` (open by default, like ``/health``)."""
    temporal_metrics_port: int = Field(
        default=0, ge=0, le=65535, validation_alias="FLOV7_TEMPORAL_METRICS_PORT"
    )
    """Port of the Temporal SDK's own Prometheus exporter (``temporal_*``: task slots,
    poll latency, sticky cache...), on ``FLOV7_METRICS_HOST``; 0 (default) = off."""
    otlp_endpoint: str | None = Field(default=None, validation_alias="FLOV7_OTLP_ENDPOINT")
    """OTLP/HTTP collector URL (``http://collector:4318``): turns tracing on. Unset = off."""
    codec_cors_origins: str = Field(
        default="http://localhost:8233,http://127.0.0.1:8233",
        validation_alias="FLOV7_CODEC_CORS_ORIGINS",
    )
    """Comma-separated origins (the Temporal Web UI) allowed to call ``/codec/decode``."""

    @field_validator("data_dir")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        # Absolute from the start: every part of the process (and the message that
        # names it) must mean the same directory, whatever the CWD is later.
        return value.expanduser().resolve()

    @field_validator("api_host", mode="before")
    @classmethod
    def _strip_host(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        scheme = value.get_secret_value().partition(":")[0].lower()
        if scheme.partition("+")[0] not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(
                "FLOV7_DATABASE_URL must be a sqlite:// or postgresql:// URL, "
                f"got one starting with {scheme + ':'!r}"
            )
        return value

    @field_validator("otlp_endpoint", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("max_request_bytes")
    @classmethod
    def _request_limit(cls, value: int) -> int:
        # Below a few KiB not even a small workflow document fits.
        if value < 4096:
            raise ValueError(f"FLOV7_MAX_REQUEST_BYTES must be at least 4096, got {value}")
        return value

    @field_validator("devserver_port", "devserver_ui_port", "api_port")
    @classmethod
    def _port(cls, value: int, info: ValidationInfo) -> int:
        return _check_port(cls, value, info)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        if isinstance(value, str):
            level = value.strip().upper()
            if level == "WARN":
                level = "WARNING"
            if level not in _LOG_LEVELS:
                raise ValueError(
                    f"FLOV7_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {value!r}"
                )
            return level
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> Any:
        if isinstance(value, str):
            fmt = value.strip().lower()
            if fmt not in ("auto", "text", "json"):
                raise ValueError(
                    f"FLOV7_LOG_FORMAT must be 'auto', 'text' or 'json', got {value!r}"
                )
            return fmt
        return value

    @model_validator(mode="after")
    def _distinct_ports(self) -> Self:
        if self.devserver_ui and self.devserver_port == self.devserver_ui_port:
            raise ValueError(
                "FLOV7_DEVSERVER_UI_PORT must differ from FLOV7_DEVSERVER_PORT "
                f"(both are {self.devserver_port})"
            )
        return self

    @property
    def api_key_list(self) -> list[str]:
        """The raw keys of ``FLOV7_API_KEYS`` (blanks around commas ignored)."""
        if self.api_keys is None:
            return []
        return [key.strip() for key in self.api_keys.get_secret_value().split(",") if key.strip()]

    @property
    def resolved_public_url(self) -> str:
        """``FLOV7_PUBLIC_URL``, or the address ``flov7 serve`` listens on."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.api_host}]" if ":" in self.api_host else self.api_host
        return f"http://{host}:{self.api_port}"

    def approval_signer(self) -> ApprovalSigner:
        """The signer of approval links (reads or creates the data dir's key)."""
        configured = self.approval_signing_key
        key = load_signing_key(configured.get_secret_value() if configured else None, self.data_dir)
        return ApprovalSigner(key=key, public_url=self.resolved_public_url)

    @property
    def resolved_database_url(self) -> str:
        """``FLOV7_DATABASE_URL`` with an async driver, or the SQLite file in the data dir."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'flov7.db').resolve()}"
        url = self.database_url.get_secret_value()
        scheme, sep, rest = url.partition(":")
        drivers = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
        drivers["postgres"] = drivers["postgresql"]
        return f"{drivers.get(scheme.lower(), scheme)}{sep}{rest}"


@dataclass(frozen=True, slots=True)
class Settings:
    """All of Flov7's settings: ``settings.temporal``, ``settings.flov7`` and ``settings.nodes``.

    ``nodes`` defaults to the node settings' defaults (nothing allowed beyond the public
    internet, no credentials, no databases), not to the environment: build the tree
    with :func:`load_settings` to read it.
    """

    temporal: TemporalSettings
    flov7: Flov7Settings
    nodes: NodeSettings = field(default_factory=NodeSettings.from_values)

    def secret_values(self) -> list[str]:
        """Every configured secret value (masked out of logs, see
        :func:`flov7.observability.logging.register_secrets`)."""
        values = list(self.flov7.api_key_list)
        if self.temporal.api_key is not None:
            values.append(self.temporal.api_key.get_secret_value())
        if self.flov7.database_url is not None:
            values.append(self.flov7.database_url.get_secret_value())
        ring = self.temporal.key_ring
        if ring is not None:
            values.extend(ring.secret_values())
        values.extend(self.nodes.secret_values())
        return values


def settings_with(
    *,
    temporal: TemporalSettings | None = None,
    flov7: Flov7Settings | None = None,
    nodes: NodeSettings | None = None,
) -> Settings:
    """A settings tree from the given groups, the defaults for the others.

    Reads neither the environment nor ``.env``: for code and tests that configure Flov7
    directly (``settings_with(nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"))``).
    """
    return Settings(
        temporal=temporal if temporal is not None else TemporalSettings.from_values(),
        flov7=flov7 if flov7 is not None else Flov7Settings.from_values(),
        nodes=nodes if nodes is not None else NodeSettings.from_values(),
    )


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    """Read the settings from the environment and ``env_file`` (relative to the CWD).

    ``env_file=None`` reads the environment only. Raises :class:`ConfigError` listing
    every bad variable of every group at once, one per line.
    """
    problems: list[str] = []
    built: list[BaseSettings] = []
    for cls in (TemporalSettings, Flov7Settings):
        try:
            built.append(cls(_env_file=env_file))
        except ValidationError as exc:
            problems.extend(_describe(cls, exc))
    nodes: NodeSettings | None = None
    try:
        nodes = NodeSettings(_env_file=env_file)
    except ValidationError as exc:
        problems.extend(describe_node_errors(exc))
    if problems:
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(problems))
    temporal, flov7 = built
    assert isinstance(temporal, TemporalSettings)
    assert isinstance(flov7, Flov7Settings)
    assert nodes is not None
    return Settings(temporal=with_default_payload_store(temporal, flov7), flov7=flov7, nodes=nodes)


def with_default_payload_store(
    temporal: TemporalSettings, flov7: Flov7Settings
) -> TemporalSettings:
    """``temporal`` with the embedded setup's payload store, ``<FLOV7_DATA_DIR>/payloads``,
    when ``FLOV7_PAYLOAD_STORE_DIR`` is unset and the store is not ``off``.

    Only for the embedded server: with ``TEMPORAL_HOST`` the workers may be on other
    machines, where a directory of this one's would not be there, so a cluster gets a
    store only when ``FLOV7_PAYLOAD_STORE_DIR`` names a shared one. Applied by
    :func:`load_settings`; groups built in code keep exactly what they were given.
    """
    if temporal.payload_store == "off" or temporal.payload_store_dir is not None:
        return temporal
    if not temporal.uses_embedded_server:
        return temporal
    return temporal.model_copy(update={"payload_store_dir": flov7.data_dir / "payloads"})


def _describe(cls: type[BaseSettings], exc: ValidationError) -> list[str]:
    """One line per error, naming the environment variable rather than the field."""
    by_field = {name: _env_name(cls, name) for name in cls.model_fields}
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        key = str(loc[0]) if loc else ""
        env = by_field.get(key, key.upper())
        cause = err.get("ctx", {}).get("error")
        if err["type"] == "value_error" and cause is not None:
            # Our own validators already name the variable; don't repeat it.
            message = str(cause)
            lines.append(message if not env or message.startswith(env) else f"{env}: {message}")
            continue
        line = f"{env}: {err['msg']}" if env else str(err["msg"])
        raw = err.get("input")
        # Echo what the user typed (hide_input_in_errors keeps it out of err['msg']),
        # except secrets.
        if env and env not in _SECRET_VARIABLES and isinstance(raw, str | int | float):
            line += f", got {raw!r}"
        lines.append(line)
    return lines


@functools.lru_cache(maxsize=1)
def _cached_settings() -> Settings:
    return load_settings()


def get_settings() -> Settings:
    """The process-wide settings, read once (see :func:`reset_settings_cache`)."""
    return _cached_settings()


def reset_settings_cache() -> None:
    """Forget the cached settings so that the next :func:`get_settings` reads them again."""
    _cached_settings.cache_clear()
