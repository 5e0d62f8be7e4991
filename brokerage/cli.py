"""The `brokerage` console script: one typer app, each command group in brokerage/commands/.

Command modules are imported only when their command runs: importing all of them (the REST API, QuickFIX,
chdb, tantivy...) cost ~4.8 s of CPU for every `brokerage ...` process, against ~0.9 s for one command.
"""

from __future__ import annotations

import importlib

import typer
from typer import _click as click  # typer 0.29 ships its own click; its groups and commands are these classes
from typer.core import TyperGroup

# name -> (module under brokerage.commands, attribute: a typer.Typer group or a command function).
# Listed in --help in this order: run the system, operate it, then the individual processes and tools.
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("up", "up"),
    "services": ("services", "app"),
    "db": ("db", "app"),
    "demo": ("demo", "app"),
    "token": ("token", "app"),
    "accounts": ("accounts", "app"),
    "sessions": ("sessions", "app"),
    "kill-switch": ("kill_switch", "app"),
    "halt": ("halt", "app"),
    "orders": ("orders", "app"),
    "exchange": ("exchange", "exchange"),
    "gateway": ("gateway", "gateway"),
    "frontdoor": ("frontdoor", "frontdoor"),
    "marketdata": ("marketdata", "marketdata"),
    "audit": ("audit", "app"),
    "api": ("api", "api"),
    "report": ("report", "report"),
    "search": ("search", "app"),
    "fix-client": ("fix_client", "fix_client"),
    "conformance-server": ("conformance", "conformance_server"),
}


def load_command(name: str) -> click.Command:
    """The click command for one entry of COMMANDS, importing its module now."""
    module_name, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(f"brokerage.commands.{module_name}"), attribute)
    if isinstance(target, typer.Typer):
        command: click.Command = typer.main.get_group(target)  # a group even with one sub-command (`demo seed`)
    else:
        single = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
        single.command(name=name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyCommands(TyperGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name) if cmd_name in COMMANDS else None


app = typer.Typer(
    name="brokerage",
    cls=LazyCommands,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def brokerage() -> None:
    """FIX 4.4 brokerage gateway: run the system, manage local services, the ledger and the demo."""


if __name__ == "__main__":
    app()
