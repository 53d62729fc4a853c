"""The API's settings (FLOV7_API_*, FLOV7_DATABASE_URL, ...): defaults and messages that
name the variable, never echoing a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from flov7.config import load_settings
from flov7.errors import ConfigError


def test_defaults(clean_env: Path) -> None:
    settings = load_settings().flov7
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8002)
    assert settings.api_key_list == []
    assert settings.allow_unauthenticated is False
    assert settings.max_request_bytes == 4 * 1024 * 1024
    assert settings.resolved_database_url == (
        f"sqlite+aiosqlite:///{(clean_env / '.flov7' / 'flov7.db').resolve()}"
    )


def test_values_from_the_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOV7_API_HOST", " 0.0.0.0 ")
    monkeypatch.setenv("FLOV7_API_PORT", "9000")
    monkeypatch.setenv("FLOV7_API_KEYS", "one, two,,three ")
    monkeypatch.setenv("FLOV7_ALLOW_UNAUTHENTICATED", "true")
    monkeypatch.setenv("FLOV7_DATABASE_URL", "postgresql://flov7:pw@db/flov7")
    monkeypatch.setenv("FLOV7_MAX_REQUEST_BYTES", "65536")
    settings = load_settings().flov7
    assert (settings.api_host, settings.api_port) == ("0.0.0.0", 9000)
    assert settings.api_key_list == ["one", "two", "three"]
    assert "one, two" not in repr(settings)  # keys are secrets ("one" alone is in "None")
    assert "pw" not in repr(settings.database_url)
    assert settings.allow_unauthenticated is True
    assert settings.resolved_database_url == "postgresql+asyncpg://flov7:pw@db/flov7"
    assert settings.max_request_bytes == 65536


def test_bad_values_are_reported_by_variable_without_secrets(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOV7_API_PORT", "70000")
    monkeypatch.setenv("FLOV7_DATABASE_URL", "mysql://root:hunter2@db/x")
    monkeypatch.setenv("FLOV7_MAX_REQUEST_BYTES", "10")
    monkeypatch.setenv("FLOV7_ALLOW_UNAUTHENTICATED", "perhaps")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "FLOV7_API_PORT must be a port number between 1 and 65535, got 70000" in message
    assert "FLOV7_DATABASE_URL must be a sqlite:// or postgresql:// URL" in message
    assert "FLOV7_MAX_REQUEST_BYTES must be at least 4096, got 10" in message
    assert "FLOV7_ALLOW_UNAUTHENTICATED" in message
    assert "hunter2" not in message
