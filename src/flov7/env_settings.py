"""The base of every settings group: where Flov7's settings are read from, and how.

:class:`EnvSettings` is a pydantic-settings class that reads the environment and a
``.env`` file (environment wins, empty variables count as unset, names ignore case).
It sits below :mod:`flov7.config` and :mod:`flov7.nodes.settings` so that the one
settings tree (``Settings`` in :mod:`flov7.config`) can hold the node settings without
an import cycle: ``config`` imports ``nodes.settings``, both import this module.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic_settings import BaseSettings, InitSettingsSource, SettingsConfigDict

__all__ = ["EnvSettings"]


class EnvSettings(BaseSettings):
    """What every settings group shares (:mod:`flov7.config`, :mod:`flov7.nodes.settings`):
    where they read from, and how."""

    # Inline (not a shared dict) so that the pydantic mypy plugin sees validate_by_name.
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        # A .env file is shared with other tools (database URLs, the temporal CLI's own
        # TEMPORAL_ADDRESS...): unknown keys are none of our business.
        extra="ignore",
        env_ignore_empty=True,
        case_sensitive=False,
        # Fields are named in snake_case and read from their exact variable names; allow both
        # so that code and tests can build settings with Python names.
        validate_by_name=True,
        validate_by_alias=True,
        allow_inf_nan=False,
        hide_input_in_errors=True,
        # Field docstrings become descriptions: docs/operations.md's configuration
        # reference is generated from them (flov7.settings_reference).
        use_attribute_docstrings=True,
    )

    @classmethod
    def from_values(cls, **values: Any) -> Self:
        """Settings from ``values`` (field names or variable names) and the defaults only.

        Neither the environment nor ``.env`` is read (``cls()`` reads both): the way to
        build settings in code and tests.
        """
        # Only the init source: model_validate() and cls(**values) read the environment.
        return cls(_build_sources=((InitSettingsSource(cls, values),), values))
