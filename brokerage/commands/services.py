"""`brokerage services start|stop|status`: the local PostgreSQL and Redis servers."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from brokerage.services import LocalServices, ServiceError
from brokerage.settings import get_settings

app = typer.Typer(help="Start, stop and check the local PostgreSQL and Redis servers (passwords in "
                       "./var/secrets/, see ADR 008).",
                  no_args_is_help=True)
console = Console()


def _services() -> LocalServices:
    settings = get_settings()
    services = LocalServices.from_settings(settings)
    if not services.members:
        console.print("External PostgreSQL and Redis are configured (BROKERAGE_DATABASE_URL / "
                      "BROKERAGE_REDIS_URL): nothing to manage locally.")
    return services


@app.command()
def start() -> None:
    """Start the local servers (idempotent) and wait until they answer."""
    try:
        services = _services()
        services.start()
    except ServiceError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    for note in services.notes():
        console.print(f"[yellow]note:[/yellow] {note}")
    status()


@app.command()
def stop() -> None:
    """Stop the local servers cleanly (idempotent)."""
    try:
        _services().stop()
    except ServiceError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print("local services stopped")


@app.command()
def status() -> None:
    """Show whether each local server runs and answers its health check."""
    table = Table("service", "running", "healthy", "pid", "port", "detail")
    unhealthy = False
    for s in _services().status():
        table.add_row(s.name, str(s.running), str(s.healthy), str(s.pid or "-"), str(s.port), s.detail)
        unhealthy |= not s.healthy
    console.print(table)
    if unhealthy:
        raise typer.Exit(3)
