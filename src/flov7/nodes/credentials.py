"""Named credentials: secrets that nodes refer to by name, never by value.

A workflow document is stored, shown in the UI and recorded in Temporal's history, so it
must not hold secrets. Instead an operator configures credentials (for now from the
environment, see :mod:`flov7.nodes.settings`) and a node names one::

    {"type": "api_call", "data": {"url": "...", "auth": {"type": "bearer", "credential": "crm"}}}

Values are :class:`~pydantic.SecretStr` (hidden from ``repr`` and logs), and
:class:`CredentialStore` can redact every configured value out of any text or JSON value
before it leaves a node (error messages, outputs).

Credentials sent to a URL (``bearer``, ``basic``, ``header``, ``secret``) may be bound to
their destinations with ``allowed_hosts`` (host names, ``*.domain`` wildcards, IP
addresses, each optionally with ``:port``): a node that would send one elsewhere fails
(:meth:`CredentialStore.check_host`). Without ``allowed_hosts`` any host is accepted, as
before, and the store logs a warning at start-up for each such credential.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, ClassVar, Literal, TypeVar, overload
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from flov7.errors import NodeExecutionError
from flov7.security.ssrf import HostRule, Origin

__all__ = [
    "MIN_REDACTED_LENGTH",
    "REDACTED",
    "BasicCredential",
    "BearerCredential",
    "Credential",
    "CredentialStore",
    "DatabaseCredential",
    "HeaderCredential",
    "HostBoundCredential",
    "LlmCredential",
    "SecretCredential",
    "parse_credential",
    "redact_text",
    "redact_value",
    "summarise_errors",
]

REDACTED = "***"

log = logging.getLogger(__name__)


class _CredentialBase(BaseModel):
    """Common behaviour: strict fields (a typo is an error), immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    label: ClassVar[str]
    """How messages call this kind of credential ("bearer", "basic", ...)."""

    def secret_values(self) -> list[str]:
        """Every string that must never leave the worker (and its derived forms)."""
        return [
            value.get_secret_value()
            for value in self.__dict__.values()
            if isinstance(value, SecretStr)
        ]


class HostBoundCredential(_CredentialBase):
    """A credential sent to URLs, optionally bound to hosts with ``allowed_hosts``.

    Entries are host names (``api.crm.example``), wildcards (``*.crm.example``: any
    subdomain, not the domain itself) or IP addresses, each optionally followed by
    ``:port`` (``[v6]:port`` for IPv6); without a port any port fits. They are matched
    against the URL's host as written (a name is not the addresses it resolves to).
    None (absent): any host.
    """

    allowed_hosts: tuple[str, ...] | None = None

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):  # "a.example, b.example:8443" as one string
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("must list at least one host (leave it out to allow any host)")
        return tuple(str(HostRule.parse(entry, networks=False)) for entry in value)

    def allows_host(self, host: str, port: int) -> bool:
        """True when this credential may be sent to ``host`` (name or IP) on ``port``."""
        if self.allowed_hosts is None:
            return True
        return any(
            HostRule.parse(entry, networks=False).matches_url_host(host, port)
            for entry in self.allowed_hosts
        )


class BearerCredential(HostBoundCredential):
    """``Authorization: Bearer <token>``."""

    label: ClassVar[str] = "bearer"
    type: Literal["bearer"] = "bearer"
    token: SecretStr = Field(min_length=1)


class BasicCredential(HostBoundCredential):
    """HTTP basic authentication."""

    label: ClassVar[str] = "basic"
    type: Literal["basic"] = "basic"
    username: str
    password: SecretStr

    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        pair = f"{self.username}:{self.password.get_secret_value()}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def secret_values(self) -> list[str]:
        # A server that echoes the request (or an error quoting the header) would show
        # the base64 form, which decodes straight back to the password.
        return [*super().secret_values(), self.authorization().removeprefix("Basic ")]


class HeaderCredential(HostBoundCredential):
    """A custom header, e.g. ``X-API-Key: <value>``."""

    label: ClassVar[str] = "header"
    type: Literal["header"] = "header"
    header: str = Field(min_length=1, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    value: SecretStr = Field(min_length=1)


class SecretCredential(HostBoundCredential):
    """A bare secret: a webhook signing key, or a token used as a bearer/header value."""

    label: ClassVar[str] = "secret"
    type: Literal["secret"] = "secret"
    value: SecretStr = Field(min_length=1)


class DatabaseCredential(_CredentialBase):
    """A database URL (SQLAlchemy form), optionally read-only."""

    label: ClassVar[str] = "database"
    type: Literal["database"] = "database"
    url: SecretStr = Field(min_length=1)
    read_only: bool = False

    def secret_values(self) -> list[str]:
        # Driver errors often quote the password alone, not the whole URL.
        values = super().secret_values()
        password = _url_password(self.url.get_secret_value())
        return [*values, password] if password else values


class LlmCredential(_CredentialBase):
    """An OpenAI-compatible endpoint: base URL, API key, default model."""

    label: ClassVar[str] = "llm"
    type: Literal["llm"] = "llm"
    base_url: str = Field(min_length=1)
    api_key: SecretStr | None = None
    model: str | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            Origin.of(value)
        except ValueError:
            raise ValueError(
                "must be an http(s) URL with a host, e.g. https://api.openai.com/v1"
            ) from None
        return value.strip()


Credential = Annotated[
    BearerCredential
    | BasicCredential
    | HeaderCredential
    | SecretCredential
    | DatabaseCredential
    | LlmCredential,
    Field(discriminator="type"),
]
"""Any credential, told apart by its ``type``."""

CREDENTIAL_TYPES: tuple[str, ...] = ("bearer", "basic", "header", "secret", "database", "llm")

_ADAPTER: TypeAdapter[Credential] = TypeAdapter(Credential)

C = TypeVar("C", bound=_CredentialBase)


def parse_credential(raw: Any) -> Credential:
    """A credential from its configured form: a JSON object, or a plain string (a secret).

    Raises ValueError with a message that never quotes the input (it holds secrets).
    """
    if isinstance(raw, str):
        text = raw.strip()
        if not text.startswith("{"):
            return SecretCredential(value=SecretStr(raw))
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            # The decoder's message gives a position, never the text itself.
            raise ValueError(f"not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(raw, dict):
        raise ValueError("must be a JSON object or a plain string")
    kind = raw.get("type")
    if kind not in CREDENTIAL_TYPES:
        raise ValueError(f'needs "type", one of {", ".join(CREDENTIAL_TYPES)}')
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        # loc[0] is the discriminator's tag ("bearer"): drop it.
        raise ValueError(f"invalid {kind} credential: {summarise_errors(exc, skip=1)}") from None


def summarise_errors(exc: ValidationError, *, skip: int = 0) -> str:
    """``field: problem; ...`` for a validation error, never quoting the input."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in err["loc"][skip:]) or "value"
        cause = err.get("ctx", {}).get("error")
        message = str(cause) if err["type"] == "value_error" and cause else err["msg"]
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def redact_text(text: str, pattern: re.Pattern[str] | None) -> str:
    """``text`` with every match of ``pattern`` (the secrets) replaced by ``***``."""
    return text if pattern is None else pattern.sub(REDACTED, text)


def redact_value(value: Any, pattern: re.Pattern[str] | None) -> Any:
    """A JSON value with secrets redacted from every string in it (keys included)."""
    if pattern is None:
        return value
    if isinstance(value, str):
        return pattern.sub(REDACTED, value)
    if isinstance(value, dict):
        return {
            redact_value(key, pattern): redact_value(item, pattern) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(item, pattern) for item in value]
    return value


MIN_REDACTED_LENGTH = 4
"""Shorter values are not redacted: replacing every ``t`` or ``ab`` in outputs and
messages would mangle them (``"text"`` -> ``"***ex***"``) while protecting nothing, since
such a value is no secret. :class:`CredentialStore` warns about them."""


def secrets_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching any of ``secrets``, longest first (so no fragment survives)."""
    unique = sorted(
        {secret for secret in secrets if len(secret) >= MIN_REDACTED_LENGTH}, key=len, reverse=True
    )
    if not unique:
        return None
    return re.compile("|".join(re.escape(secret) for secret in unique))


class CredentialStore:
    """The configured credentials, looked up by name (case-insensitive)."""

    def __init__(
        self, credentials: Mapping[str, Credential], extra_secrets: Iterable[str] = ()
    ) -> None:
        """``extra_secrets``: more values to redact (database URLs, the LLM API key...)."""
        self._credentials = {name.lower(): credential for name, credential in credentials.items()}
        for name, credential in self._credentials.items():
            if any(len(value) < MIN_REDACTED_LENGTH for value in credential.secret_values()):
                log.warning(
                    "Credential '%s' has a value shorter than %d characters: too short to be "
                    "redacted from outputs and messages",
                    name,
                    MIN_REDACTED_LENGTH,
                )
            if isinstance(credential, HostBoundCredential) and credential.allowed_hosts is None:
                log.warning(
                    "Credential '%s' has no allowed_hosts: any workflow may send it to any "
                    "host; set allowed_hosts to the hosts it is meant for",
                    name,
                )
        values = [value for c in self._credentials.values() for value in c.secret_values()]
        self._pattern = secrets_pattern([*values, *extra_secrets])

    def names(self) -> list[str]:
        """The configured names, sorted."""
        return sorted(self._credentials)

    @overload
    def get(self, name: str, expected_type: type[C]) -> C: ...

    @overload
    def get(self, name: str, expected_type: tuple[type[C], ...]) -> C: ...

    def get(self, name: str, expected_type: type[C] | tuple[type[C], ...]) -> C:
        """The credential called ``name``, which must be of (one of) ``expected_type``.

        Raises a non-retryable :class:`NodeExecutionError` (``CredentialError``) naming
        the configured credentials when it is unknown, or its type when it does not fit.
        """
        credential = self._credentials.get(name.strip().lower())
        if credential is None:
            configured = ", ".join(self.names()) or "none"
            raise NodeExecutionError(
                f"Unknown credential '{name}'; configured: {configured} (set FLOV7_CREDENTIALS "
                f"or FLOV7_CREDENTIAL_{name.strip().upper()} on the worker)",
                error_type="CredentialError",
                retryable=False,
            )
        expected = expected_type if isinstance(expected_type, tuple) else (expected_type,)
        if not isinstance(credential, expected):
            wanted = " or ".join(kind.label for kind in expected)
            raise NodeExecutionError(
                f"Credential '{name}' is a {credential.label} credential; this needs a "
                f"{wanted} credential",
                error_type="CredentialError",
                retryable=False,
            )
        return credential

    def check_host(self, name: str, credential: _CredentialBase, host: str, port: int) -> None:
        """Fail unless ``credential`` (called ``name``) may be sent to ``host`` on ``port``.

        Raises a non-retryable :class:`NodeExecutionError` (``CredentialError``) naming
        the credential, the host and its ``allowed_hosts``, never a secret.
        """
        if not isinstance(credential, HostBoundCredential) or credential.allows_host(host, port):
            return
        allowed = list(credential.allowed_hosts or ())
        key = name.strip().lower()
        shown = f"[{host}]" if ":" in host else host
        raise NodeExecutionError(
            f"Credential '{key}' may not be sent to {shown} (port {port}): its allowed_hosts "
            f"are {', '.join(allowed)}",
            error_type="CredentialError",
            retryable=False,
            details={"credential": key, "host": host, "port": port, "allowed_hosts": allowed},
        )

    def redact(self, text: str) -> str:
        """``text`` with every configured secret value replaced by ``***``."""
        return redact_text(text, self._pattern)

    def redact_value(self, value: Any) -> Any:
        """A JSON value with every configured secret value replaced by ``***``."""
        return redact_value(value, self._pattern)
