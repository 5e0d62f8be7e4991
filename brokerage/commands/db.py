"""`brokerage db upgrade|downgrade|current`: Alembic migrations of the ledger schema."""

from __future__ import annotations

import typer
from alembic.util.exc import CommandError
from rich.console import Console
from sqlalchemy.exc import OperationalError

from brokerage.settings import get_settings
from ledger import migrate

app = typer.Typer(help="Migrate the ledger schema (PostgreSQL at BROKERAGE_DATABASE_URL or the local server).",
                  no_args_is_help=True)
console = Console()


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(1)


def _show(revisions: set[str]) -> str:
    return ", ".join(sorted(revisions)) or "base"


@app.command()
def upgrade(revision: str = typer.Argument("heads", help="Target revision (default: every head).")) -> None:
    """Apply migrations up to REVISION."""
    url = get_settings().effective_database_url
    try:
        migrate.upgrade(url, revision)
        console.print(f"ledger schema at revision {_show(migrate.current_revisions(url))}")
    except (OperationalError, CommandError, ValueError) as exc:
        raise _fail(exc) from exc


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. 'base' or '-1'.")) -> None:
    """Revert migrations down to REVISION ('base' drops every ledger table)."""
    url = get_settings().effective_database_url
    try:
        migrate.downgrade(url, revision)
        console.print(f"ledger schema at revision {_show(migrate.current_revisions(url))}")
    except (OperationalError, CommandError, ValueError) as exc:
        raise _fail(exc) from exc


@app.command()
def current() -> None:
    """Print the revision the database is at, and the newest one available."""
    url = get_settings().effective_database_url
    try:
        console.print(f"current: {_show(migrate.current_revisions(url))}  head: {_show(migrate.head_revisions())}")
    except (OperationalError, CommandError, ValueError) as exc:
        raise _fail(exc) from exc
