from __future__ import annotations

from typer.testing import CliRunner

from brokerage.cli import app


def test_api_command_help() -> None:
    result = CliRunner().invoke(app, ["api", "--help"])
    assert result.exit_code == 0, result.output
    assert "--port" in result.output and "/docs" in result.output
