"""The configuration page, docs/configuration.md, generated from the Settings class.

    .venv/bin/python -m shared.config.page           # write docs/configuration.md
    .venv/bin/python -m shared.config.page --check   # exit 1 if it is out of date

Each row is one field of shared.config.settings.Settings: its variable (the alias), its default and
its description; edit those there and run this again. A test checks that the committed page
is this output.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic.fields import FieldInfo

from shared.config.settings import PROJECT_ROOT, Settings

PAGE = PROJECT_ROOT / "docs" / "configuration.md"
COMMAND = ".venv/bin/python -m shared.config.page"

INTRO = """\
# Configuration

<!-- Generated from shared/config/settings.py by `{command}`: edit the descriptions there. -->

Every variable is read once, when a process starts, by `shared/config/settings.py`; a bad value
stops the process with a message naming the variable and what is wrong with it. A value is
stripped of surrounding spaces, and an empty one counts as unset.

The admin CLI (`.venv/bin/flask --app web ...`) reads `.env` from the folder it is run in or
above (run it from the project root), through python-dotenv, as Flask's CLI does; so does
`make run`. Variables already in the environment win, and `FLASK_SKIP_DOTENV=1` turns it
off (the tests set it, so they never read a developer's `.env`). The processes `make run`
starts inherit its environment, `.env` included; nothing else reads `.env`.

| variable | default | meaning |
|---|---|---|
"""

# Read from the environment by the library or option that uses them, not by Settings: rows
# written here, not generated.
LIBRARY_VARIABLES = (
    (
        "ATM_API_KEY",
        "unset",
        "the key the batch submitter (`--api-key`, which reads it) and the benchmarks send",
    ),
    (
        "PROMETHEUS_MULTIPROC_DIR",
        "`data/metrics/<PORT>` (launcher)",
        "where every process writes its metrics for `/metrics` to add up (prometheus-client "
        "reads it); the launcher empties its own at start (one per port, so a second service "
        "started from the same folder leaves the first's alone)",
    ),
    (
        "FLASK_SKIP_DOTENV",
        "unset",
        "`1`: neither `make run` nor the flask command reads `.env` (Flask reads it)",
    ),
)

OUTRO = """
Read from the environment outside `shared/config/settings.py`, by the library or option that uses
them:

| variable | default | meaning |
|---|---|---|
"""


def shown_default(field: FieldInfo) -> str:
    """The default as the page shows it: the same on every machine (no absolute paths)."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "shown_default" in extra:
        return str(extra["shown_default"])
    value = field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, Path):
        text = f"<project>/{value.relative_to(PROJECT_ROOT)}"
    else:
        text = str(value)
    return f"`{text}`"


def row(variable: str, default: str, meaning: str) -> str:
    cells = (f"`{variable}`", default, meaning)
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |\n"


def render() -> str:
    """The whole page."""
    rows = [
        row(str(field.alias), shown_default(field), str(field.description))
        for field in Settings.model_fields.values()
    ]
    library_rows = [row(*variable) for variable in LIBRARY_VARIABLES]
    return INTRO.format(command=COMMAND) + "".join(rows) + OUTRO + "".join(library_rows)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    page = render()
    if args == ["--check"]:
        if PAGE.exists() and PAGE.read_text() == page:
            return 0
        print(f"{PAGE.relative_to(PROJECT_ROOT)} is out of date: run {COMMAND}")
        return 1
    if args:
        print(f"usage: {COMMAND} [--check]", file=sys.stderr)
        return 2
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(page)
    print(f"wrote {PAGE.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
