"""How the CLI's listing commands print: `--format table` (rich, for people) or `--format json` (for scripts).

One renderer for every command that offers both, so the option, its help and the JSON shape (indented, dates
as ISO text chosen by the caller's ``to_json``) never drift between commands.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

import typer

__all__ = ["Format", "FormatOption", "emit"]


class Format(StrEnum):
    table = "table"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="table or json.")]


def emit(data: Any, format: Format, render: Callable[[], None]) -> None:
    """Print ``data`` as JSON, or call ``render`` to print the table."""
    if format is Format.json:
        typer.echo(json.dumps(data, indent=2))
    else:
        render()
