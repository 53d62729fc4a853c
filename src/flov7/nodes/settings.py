"""Settings of the I/O nodes: outbound guard, HTTP limits, credentials, databases, LLM.

:class:`NodeSettings` is one group of the settings tree (``settings.nodes``, see
:mod:`flov7.config`): :func:`flov7.config.load_settings` reads it from the environment
and a ``.env`` file (environment wins), case-insensitively, once at start, and it is
handed down to :class:`~flov7.nodes.resources.NodeResources`. An empty variable counts
as unset. Bad variables become a :class:`~flov7.errors.ConfigError` with one line per
variable, naming it (:func:`describe_node_errors`); :func:`load_node_settings` reads this
group alone. Code and tests build one with :meth:`NodeSettings.from_values`, which reads
no environment.

Variables (see ``docs/nodes.md``):

- ``FLOV7_OUTBOUND_ALLOWLIST``: comma-separated hosts, ``*.domain`` wildcards, IPs and
  CIDRs that the SSRF guard lets through, each optionally limited to a port
  (``127.0.0.1:8080,10.0.0.0/8,api.internal:8443,[::1]:9000``).
- ``FLOV7_HTTP_MAX_RESPONSE_BYTES`` (16 MiB; outputs over 1 MB need a payload store),
  ``FLOV7_HTTP_MAX_CONNECTIONS`` (100).
- ``FLOV7_CREDENTIALS``: a JSON object ``{name: credential}``, and
  ``FLOV7_CREDENTIAL_<NAME>``: one credential (JSON object, or a plain string = a secret).
  The single-name variable wins over an entry of the same name in the object.
- ``FLOV7_DATABASES``: JSON ``{name: {"url", "read_only"}}`` (or ``{name: url}``);
  ``FLOV7_DATABASE_<NAME>=<url>`` and ``FLOV7_DATABASE_<NAME>_READ_ONLY=true``;
  ``FLOV7_DEFAULT_DATABASE``. Credentials of type ``database`` are databases too.
- ``FLOV7_LLM_BASE_URL``, ``FLOV7_LLM_API_KEY``, ``FLOV7_LLM_MODEL``,
  ``FLOV7_LLM_TIMEOUT_SECONDS`` (120). The ``ai_agent`` node (only it) may reach the exact
  origin of ``FLOV7_LLM_BASE_URL`` and of ``llm`` credentials (:meth:`NodeSettings.llm_origins`).

Names (of credentials and databases) are case-insensitive and stored lower-cased.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Final, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
)

from flov7.env_settings import EnvSettings
from flov7.errors import ConfigError
from flov7.nodes.credentials import (
    Credential,
    DatabaseCredential,
    LlmCredential,
    parse_credential,
    summarise_errors,
)
from flov7.security.ssrf import Origin, OutboundPolicy

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DatabaseConnectionConfig",
    "NodeSettings",
    "describe_node_errors",
    "load_node_settings",
]

# Multi-MB API responses are common; outputs over the payload threshold go by reference
# (FLOV7_PAYLOAD_STORE_*), and without a store an output over 1 MB fails with its own
# error. Reading stops at the cap, so it also bounds a node's memory for one body.
DEFAULT_MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024

_CREDENTIAL_PREFIX: Final = "flov7_credential_"
_DATABASE_PREFIX: Final = "flov7_database_"
_READ_ONLY_SUFFIX: Final = "_read_only"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})

# Variables whose value is (or holds) a secret: never echoed in error messages.
_SECRET_VARIABLES: Final = frozenset({"FLOV7_CREDENTIALS", "FLOV7_DATABASES", "FLOV7_LLM_API_KEY"})


class DatabaseConnectionConfig(BaseModel):
    """A named database: its SQLAlchemy URL (a secret: it may hold a password)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: SecretStr = Field(min_length=1)
    read_only: bool = False


class _NamedVariables(PydanticBaseSettingsSource):
    """``FLOV7_CREDENTIAL_<NAME>`` and ``FLOV7_DATABASE_<NAME>[_READ_ONLY]``.

    The operator picks the names, so no field can declare these variables; this source
    collects them from the environment and ``.env`` (environment wins) into the
    ``named_variables`` field, which a validator then parses.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        sources: tuple[PydanticBaseSettingsSource, ...],
    ) -> None:
        super().__init__(settings_cls)
        self._sources = sources

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: this source fills one field as a whole in :meth:`__call__`."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, str] = {}
        for source in self._sources:  # lowest precedence first: later ones overwrite
            if not isinstance(source, EnvSettingsSource):
                continue
            for key, value in source.env_vars.items():
                key = key.lower()
                if value and key.startswith((_CREDENTIAL_PREFIX, _DATABASE_PREFIX)):
                    found[key] = value
        return {"named_variables": found} if found else {}


class NodeSettings(EnvSettings):
    """What the I/O nodes are configured with: ``settings.nodes`` (see the module docstring)."""

    outbound_allowlist: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="FLOV7_OUTBOUND_ALLOWLIST"
    )
    """Hosts, ``*.domain`` wildcards, IPs and CIDRs (each with an optional ``:port``) the
    SSRF guard lets through."""
    http_max_response_bytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES, validation_alias="FLOV7_HTTP_MAX_RESPONSE_BYTES"
    )
    """Largest HTTP response body a node reads (bigger ones fail the node)."""
    http_max_connections: int = Field(default=100, validation_alias="FLOV7_HTTP_MAX_CONNECTIONS")
    """Size of the worker's shared HTTP connection pool."""

    credentials: Annotated[dict[str, Credential], NoDecode] = Field(
        default_factory=dict, validation_alias="FLOV7_CREDENTIALS"
    )
    """Named credentials, by lower-cased name (``FLOV7_CREDENTIALS`` + single ones)."""
    databases: Annotated[dict[str, DatabaseConnectionConfig], NoDecode] = Field(
        default_factory=dict, validation_alias="FLOV7_DATABASES"
    )
    """Named databases, by lower-cased name (``FLOV7_DATABASES``, single ones, and
    credentials of type ``database``)."""
    default_database: str | None = Field(default=None, validation_alias="FLOV7_DEFAULT_DATABASE")
    """The database of a ``database`` node that names none."""

    llm_base_url: str | None = Field(default=None, validation_alias="FLOV7_LLM_BASE_URL")
    llm_api_key: SecretStr | None = Field(default=None, validation_alias="FLOV7_LLM_API_KEY")
    llm_model: str | None = Field(default=None, validation_alias="FLOV7_LLM_MODEL")
    llm_timeout_seconds: float = Field(default=120, validation_alias="FLOV7_LLM_TIMEOUT_SECONDS")

    named_variables: dict[str, str] = Field(
        default_factory=dict, exclude=True, repr=False, validation_alias="__flov7_named_variables"
    )
    """Raw ``FLOV7_CREDENTIAL_*`` / ``FLOV7_DATABASE_*`` values (see ``_NamedVariables``)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual sources, plus the variables whose names the operator chooses."""
        named = _NamedVariables(settings_cls, (dotenv_settings, env_settings))
        return init_settings, env_settings, dotenv_settings, named, file_secret_settings

    # --- Field validators --------------------------------------------------------------

    @field_validator("outbound_allowlist", mode="before")
    @classmethod
    def _split_allowlist(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if isinstance(value, list | tuple):
            entries = tuple(str(part).strip() for part in value if str(part).strip())
            try:
                OutboundPolicy.from_entries(entries)
            except ValueError as exc:
                raise ValueError(f"FLOV7_OUTBOUND_ALLOWLIST: {exc}") from None
            return entries
        return value

    @field_validator("http_max_response_bytes", "http_max_connections", "llm_timeout_seconds")
    @classmethod
    def _positive(cls, value: float, info: ValidationInfo) -> float:
        if value <= 0:
            raise ValueError(f"{_variable(info.field_name)} must be greater than 0, got {value}")
        return value

    @field_validator("credentials", mode="before")
    @classmethod
    def _parse_credentials(cls, value: Any) -> Any:
        entries = _json_object(value, "FLOV7_CREDENTIALS")
        parsed: dict[str, Credential] = {}
        problems: list[str] = []
        for name, raw in entries.items():
            try:
                parsed[_name(name, "FLOV7_CREDENTIALS", parsed)] = parse_credential(raw)
            except ValueError as exc:
                problems.append(f"FLOV7_CREDENTIALS[{name!r}]: {exc}")
        if problems:
            raise ValueError("\n".join(problems))
        return parsed

    @field_validator("databases", mode="before")
    @classmethod
    def _parse_databases(cls, value: Any) -> Any:
        entries = _json_object(value, "FLOV7_DATABASES")
        parsed: dict[str, DatabaseConnectionConfig] = {}
        problems: list[str] = []
        for name, raw in entries.items():
            try:
                parsed[_name(name, "FLOV7_DATABASES", parsed)] = _database(raw)
            except ValueError as exc:
                problems.append(f"FLOV7_DATABASES[{name!r}]: {exc}")
        if problems:
            raise ValueError("\n".join(problems))
        return parsed

    @field_validator("default_database", "llm_model", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("named_variables")
    @classmethod
    def _check_named_variables(cls, value: dict[str, str]) -> dict[str, str]:
        # Checked here, field by field, so that these errors are reported together with
        # the other fields' (a model validator would only run once every field is valid).
        problems: list[str] = []
        for key, raw in sorted(value.items()):
            variable = key.upper()
            if key.startswith(_CREDENTIAL_PREFIX):
                if not key.removeprefix(_CREDENTIAL_PREFIX):
                    problems.append(f"{variable} needs a credential name after the prefix")
                    continue
                try:
                    parse_credential(raw)
                except ValueError as exc:
                    problems.append(f"{variable}: {exc}")
            elif not key.removeprefix(_DATABASE_PREFIX).removesuffix(_READ_ONLY_SUFFIX):
                problems.append(f"{variable} needs a database name after the prefix")
            elif key.endswith(_READ_ONLY_SUFFIX) and raw.strip().lower() not in _TRUE | _FALSE:
                problems.append(f"{variable} must be true or false, got {raw!r}")
        if problems:
            raise ValueError("\n".join(problems))
        return value

    @field_validator("llm_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and _url_host(value) is None:
            raise ValueError(
                "FLOV7_LLM_BASE_URL must be an http(s) URL with a host, "
                "e.g. https://api.openai.com/v1"
            )
        return value

    # --- Single-name variables and cross-checks -----------------------------------------

    @model_validator(mode="after")
    def _merge_named_variables(self) -> Self:
        problems: list[str] = []
        credentials = dict(self.credentials)
        databases = dict(self.databases)
        read_only: dict[str, tuple[str, bool]] = {}
        # Sorted: FLOV7_DATABASE_X comes before FLOV7_DATABASE_X_READ_ONLY.
        for key, raw in sorted(self.named_variables.items()):
            if key.startswith(_CREDENTIAL_PREFIX):
                credentials[key.removeprefix(_CREDENTIAL_PREFIX)] = parse_credential(raw)
                continue
            name = key.removeprefix(_DATABASE_PREFIX)
            if name.endswith(_READ_ONLY_SUFFIX):
                flag = raw.strip().lower() in _TRUE
                read_only[name.removesuffix(_READ_ONLY_SUFFIX)] = (key.upper(), flag)
            else:
                databases[name] = DatabaseConnectionConfig(url=SecretStr(raw))
        for name, credential in credentials.items():
            # A database credential is a named database: the database node finds it.
            if isinstance(credential, DatabaseCredential) and name not in databases:
                databases[name] = DatabaseConnectionConfig(
                    url=credential.url, read_only=credential.read_only
                )
        for name, (variable, flag) in read_only.items():
            if name in databases:
                databases[name] = databases[name].model_copy(update={"read_only": flag})
            else:
                problems.append(
                    f"{variable} is set but database '{name}' is not configured "
                    f"(set FLOV7_DATABASE_{name.upper()} or FLOV7_DATABASES)"
                )
        default = self.default_database.lower() if self.default_database else None
        if default is not None and default not in databases:
            configured = ", ".join(sorted(databases)) or "none"
            problems.append(
                f"FLOV7_DEFAULT_DATABASE names '{default}', which is not configured; "
                f"configured: {configured}"
            )
        if problems:
            raise ValueError("\n".join(problems))
        self.credentials = credentials
        self.databases = databases
        self.default_database = default
        return self

    # --- Derived values -----------------------------------------------------------------

    def outbound_allow_entries(self) -> list[str]:
        """The SSRF guard's allow-list: the entries of ``FLOV7_OUTBOUND_ALLOWLIST``.

        The LLM endpoints are not in it: they are allowed to the ``ai_agent`` node only,
        by exact origin (see :meth:`llm_origins`).
        """
        return list(self.outbound_allowlist)

    def llm_origins(self) -> list[str]:
        """Origins (``scheme://host:port``) of ``FLOV7_LLM_BASE_URL`` and ``llm`` credentials.

        The operator chose them, and they are often a local model server
        (``http://127.0.0.1:11434``), so the ``ai_agent`` node may reach them although
        private; only that node, and only that scheme, host and port.
        """
        urls = [self.llm_base_url] + [
            c.base_url for c in self.credentials.values() if isinstance(c, LlmCredential)
        ]
        origins: list[str] = []
        for url in urls:
            origin = str(Origin.of(url)) if url else None
            if origin is not None and origin not in origins:
                origins.append(origin)
        return origins

    def outbound_policy(self, *, origins: Iterable[str] = ()) -> OutboundPolicy:
        """The SSRF guard's policy: :meth:`outbound_allow_entries`, plus exact ``origins``.

        Without ``origins`` it is the policy of the worker's shared client (``api_call``,
        ``webhook``); ``ai_agent`` adds the origin of its endpoint.
        """
        policy = OutboundPolicy.from_entries(self.outbound_allow_entries())
        return policy.with_origins(origins) if origins else policy

    def secret_values(self) -> list[str]:
        """Every configured secret value (credentials, database URLs, LLM key)."""
        values = [v for c in self.credentials.values() for v in c.secret_values()]
        for database in self.databases.values():
            values.extend(
                DatabaseCredential(url=database.url, read_only=database.read_only).secret_values()
            )
        if self.llm_api_key is not None:
            values.append(self.llm_api_key.get_secret_value())
        return values


def _variable(field_name: str | None) -> str:
    field = NodeSettings.model_fields.get(field_name or "")
    alias = field.validation_alias if field is not None else None
    return alias if isinstance(alias, str) else (field_name or "?").upper()


def _json_object(value: Any, variable: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            # Position only: the text holds secrets.
            raise ValueError(
                f"{variable} must be a JSON object: {exc.msg} at char {exc.pos}"
            ) from None
    if not isinstance(value, dict):
        raise ValueError(f"{variable} must be a JSON object {{name: ...}}")
    return value


def _name(name: str, variable: str, taken: dict[str, Any]) -> str:
    key = str(name).strip().lower()
    if not key:
        raise ValueError("names must not be empty")
    if key in taken:
        raise ValueError(f"'{key}' is configured twice in {variable} (names ignore case)")
    return key


def _database(raw: Any) -> DatabaseConnectionConfig:
    if isinstance(raw, DatabaseConnectionConfig):
        return raw
    if isinstance(raw, str):
        raw = {"url": raw}
    try:
        return DatabaseConnectionConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(summarise_errors(exc)) from None


def _url_host(url: str) -> str | None:
    """The host of an http(s) URL, or None when ``url`` is not one (or its port is bad)."""
    try:
        return Origin.of(url).host
    except ValueError:
        return None


def load_node_settings(env_file: str | Path | None = ".env") -> NodeSettings:
    """Read :class:`NodeSettings` alone from the environment and ``env_file`` (None: env only).

    :func:`flov7.config.load_settings` reads this group with the others; processes use
    that tree (``settings.nodes``), not this function.

    Raises :class:`ConfigError` listing every bad variable, one per line, never quoting
    a secret.
    """
    try:
        return NodeSettings(_env_file=env_file)
    except ValidationError as exc:
        raise ConfigError(
            "Invalid node configuration:\n  " + "\n  ".join(describe_node_errors(exc))
        ) from None


def describe_node_errors(exc: ValidationError) -> list[str]:
    """One line per bad variable of a :class:`NodeSettings` validation error, naming the
    variable and never quoting a secret."""
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        key = str(loc[0]) if loc else ""
        variable = key if key.upper().startswith("FLOV7_") else _variable(key) if key else ""
        variable = variable.upper()
        cause = err.get("ctx", {}).get("error")
        if err["type"] == "value_error" and cause is not None:
            # Our validators name the variable(s) themselves, one per line.
            for message in str(cause).splitlines():
                named = message.startswith("FLOV7_") or not variable
                lines.append(message if named else f"{variable}: {message}")
            continue
        line = f"{variable}: {err['msg']}" if variable else str(err["msg"])
        raw = err.get("input")
        if variable not in _SECRET_VARIABLES and isinstance(raw, str | int | float):
            line += f", got {raw!r}"
        lines.append(line)
    return lines
