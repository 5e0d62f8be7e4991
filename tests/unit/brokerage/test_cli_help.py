"""Every command and sub-command of `brokerage` answers --help (the CLI is the operator's manual)."""

from collections.abc import Iterator
from typing import Any

import typer.main
from typer.testing import CliRunner

from brokerage.cli import app

EXPECTED = {"up", "services", "db", "demo", "token", "kill-switch", "exchange", "gateway", "marketdata", "audit",
            "api", "report", "search", "fix-client", "conformance-server"}


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    # typer ships its own click; groups are recognised by their sub-command table
    for name, sub in getattr(command, "commands", {}).items():
        yield from _paths(sub, (*prefix, name))


def test_every_command_has_help() -> None:
    root = typer.main.get_command(app)
    assert set(root.commands) >= EXPECTED  # type: ignore[attr-defined]
    runner = CliRunner()
    paths = list(_paths(root))
    assert len(paths) > len(EXPECTED)
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output
