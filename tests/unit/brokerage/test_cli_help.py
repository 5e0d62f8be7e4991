"""Every command and sub-command of `brokerage` answers --help (the CLI is the operator's manual)."""

from collections.abc import Iterator
from typing import Any

import typer.main
from typer.testing import CliRunner

from brokerage.cli import app

EXPECTED = {"up", "services", "db", "demo", "token", "kill-switch", "exchange", "gateway", "marketdata", "audit",
            "api", "report", "search", "fix-client", "conformance-server"}


def _subcommands(command: Any) -> dict[str, Any]:
    # typer ships its own click; groups are recognised by list_commands (the root loads its commands lazily)
    if not hasattr(command, "list_commands"):
        return {}
    ctx = typer.Context(command)
    return {name: command.get_command(ctx, name) for name in command.list_commands(ctx)}


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, sub in _subcommands(command).items():
        yield from _paths(sub, (*prefix, name))


def test_every_command_has_help() -> None:
    root = typer.main.get_command(app)
    assert set(_subcommands(root)) >= EXPECTED
    runner = CliRunner()
    paths = list(_paths(root))
    assert len(paths) > len(EXPECTED)
    assert ("demo", "seed") in paths  # a group with one sub-command stays a group (run.sh calls `demo seed`)
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output
