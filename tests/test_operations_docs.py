"""docs/operations.md: the configuration reference matches the settings model."""

from __future__ import annotations

from pathlib import Path

from flov7.settings_reference import BEGIN, END, render_reference, settings_variables

OPERATIONS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


def test_configuration_reference_matches_the_settings_model() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    documented = text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()
    assert documented == render_reference().strip(), (
        "docs/operations.md is out of date: run "
        "`python -m flov7.settings_reference --write docs/operations.md`"
    )


def test_every_setting_is_described() -> None:
    reference = render_reference()
    for variable in settings_variables():
        row = next(line for line in reference.splitlines() if line.startswith(f"| `{variable}`"))
        assert row.rstrip(" |").split("|")[-1].strip(), f"{variable} has no description"
