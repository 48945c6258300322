"""docs/configuration.md is what the Settings class generates."""

from __future__ import annotations

from shared.config.page import COMMAND, PAGE, render
from shared.config.settings import PROJECT_ROOT, Settings


def test_the_configuration_page_is_generated_from_the_settings() -> None:
    assert PAGE.read_text() == render(), f"docs/configuration.md is out of date: run {COMMAND}"


def test_every_variable_has_a_row() -> None:
    page = render()
    for field in Settings.model_fields.values():
        assert f"| `{field.alias}` |" in page
    assert str(PROJECT_ROOT) not in page  # the same page on every machine
