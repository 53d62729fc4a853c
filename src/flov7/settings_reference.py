"""The configuration reference of docs/operations.md, generated from the settings model.

Every variable of :class:`~flov7.config.TemporalSettings`,
:class:`~flov7.config.Flov7Settings` and :class:`~flov7.nodes.settings.NodeSettings`,
with its default and its field docstring, as Markdown tables. The document holds the
output between two markers; ``tests/test_operations_docs.py`` fails when they differ,
and this regenerates it::

    python -m flov7.settings_reference --write docs/operations.md
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from flov7.config import Flov7Settings, TemporalSettings
from flov7.env_settings import EnvSettings
from flov7.nodes.settings import NodeSettings

__all__ = ["BEGIN", "END", "render_reference", "settings_variables", "splice"]

BEGIN = "<!-- settings-reference:begin (generated: python -m flov7.settings_reference) -->"
END = "<!-- settings-reference:end -->"

GROUPS: tuple[tuple[str, type[EnvSettings]], ...] = (
    ("Temporal connection, worker, timeouts and retries", TemporalSettings),
    ("The service", Flov7Settings),
    ("Nodes (outbound HTTP, credentials, databases, LLM)", NodeSettings),
)

# Fields whose meaning the integration guide gives (they carry no docstring).
_GUIDE_DESCRIPTIONS = {
    "TEMPORAL_NAMESPACE": "Temporal namespace of every run.",
    "TEMPORAL_TASK_QUEUE": "Task queue the workers poll and runs are started on.",
    "TEMPORAL_CONNECT_TIMEOUT_SECONDS": "How long connecting to Temporal may take.",
    "TEMPORAL_MAX_CONCURRENT_ACTIVITIES": "I/O node attempts a worker runs at once.",
    "TEMPORAL_WORKFLOW_BACKOFF_COEFFICIENT": "Growth of the wait between two retries.",
    "FLOV7_DEVSERVER_UI_PORT": "Port of the embedded dev server's Temporal Web UI.",
    "FLOV7_LOG_LEVEL": "DEBUG, INFO, WARNING, ERROR or CRITICAL.",
    "FLOV7_LLM_BASE_URL": "OpenAI-compatible endpoint of the ai_agent node.",
    "FLOV7_LLM_API_KEY": "API key of that endpoint.",
    "FLOV7_LLM_MODEL": "Default model of the ai_agent node.",
    "FLOV7_LLM_TIMEOUT_SECONDS": "How long one LLM call may take.",
}


def settings_variables() -> dict[str, tuple[type[EnvSettings], str, FieldInfo]]:
    """Every documented variable: ``name -> (group, field name, field)``."""
    found: dict[str, tuple[type[EnvSettings], str, FieldInfo]] = {}
    for _, group in GROUPS:
        for name, field in group.model_fields.items():
            alias = field.validation_alias
            if field.exclude or not isinstance(alias, str):
                continue
            found[alias] = (group, name, field)
    return found


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "empty"
    value: Any = field.default
    if value is PydanticUndefined or value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, tuple | list):
        return "empty" if not value else f"`{','.join(map(str, value))}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _describe(variable: str, field: FieldInfo) -> str:
    text = field.description or _GUIDE_DESCRIPTIONS.get(variable, "")
    # Sphinx roles read badly in Markdown: :attr:`x` -> `x`; ``x`` -> `x`.
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    text = " ".join(text.split())
    secret = field.annotation is not None and "SecretStr" in str(field.annotation)
    if secret:
        text += " Secret: never logged or echoed."
    return text.replace("|", "\\|")


def render_reference() -> str:
    """The reference as Markdown (the text between :data:`BEGIN` and :data:`END`)."""
    lines: list[str] = []
    for title, group in GROUPS:
        lines += [f"### {title}", "", "| Variable | Default | What it does |", "|---|---|---|"]
        for variable, (owner, _, field) in settings_variables().items():
            if owner is group:
                lines.append(f"| `{variable}` | {_default(field)} | {_describe(variable, field)} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def splice(document: str, reference: str) -> str:
    """``document`` with the text between the markers replaced by ``reference``."""
    start = document.index(BEGIN) + len(BEGIN)
    end = document.index(END)
    return f"{document[:start]}\n{reference}{document[end:]}"


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or ``--write FILE`` to update it between the markers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="a Markdown file holding the markers")
    args = parser.parse_args(argv)
    reference = render_reference()
    if args.write is None:
        sys.stdout.write(reference)
        return 0
    args.write.write_text(splice(args.write.read_text(encoding="utf-8"), reference))
    return 0


if __name__ == "__main__":
    sys.exit(main())
