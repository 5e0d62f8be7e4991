"""`brokerage db upgrade|downgrade|current|reconcile`: migrations of the ledger schema and its self-check."""

from __future__ import annotations

import asyncio

import asyncpg
import typer
from alembic.util.exc import CommandError
from rich.console import Console
from sqlalchemy.exc import OperationalError

from brokerage.settings import get_settings
from ledger import migrate
from ledger.reconcile import Discrepancy, reconcile

app = typer.Typer(help="Migrate the ledger schema as its owner role (BROKERAGE_DATABASE_OWNER_URL, "
                       "BROKERAGE_DATABASE_URL or the local server's owner role).",
                  no_args_is_help=True)
console = Console()


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(1)


def _show(revisions: set[str]) -> str:
    return ", ".join(sorted(revisions)) or "base"


@app.command()
def upgrade(revision: str = typer.Argument("heads", help="Target revision (default: every head).")) -> None:
    """Apply migrations up to REVISION (as the owner role), then grant the application role its DML."""
    settings = get_settings()
    url = settings.migration_database_url
    try:
        migrate.upgrade(url, revision)
        console.print(f"ledger schema at revision {_show(migrate.current_revisions(url))}")
        if migrate.grant_app_role(url, settings.database_app_role):
            console.print(f"application role {settings.database_app_role}: DML on the ledger tables granted")
    except (OperationalError, CommandError, ValueError) as exc:
        raise _fail(exc) from exc


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. 'base' or '-1'.")) -> None:
    """Revert migrations down to REVISION ('base' drops every ledger table)."""
    url = get_settings().migration_database_url
    try:
        migrate.downgrade(url, revision)
        console.print(f"ledger schema at revision {_show(migrate.current_revisions(url))}")
    except (OperationalError, CommandError, ValueError) as exc:
        raise _fail(exc) from exc


@app.command()
def current() -> None:
    """Print the revision the database is at, and the newest one available."""
    url = get_settings().migration_database_url
    try:
        console.print(f"current: {_show(migrate.current_revisions(url))}  head: {_show(migrate.head_revisions())}")
    except (OperationalError, CommandError, ValueError) as exc:
        raise _fail(exc) from exc


async def _reconcile(url: str, account: str | None) -> list[Discrepancy]:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        return await reconcile(pool, account)
    finally:
        await pool.close()


@app.command(name="reconcile")
def reconcile_command(
    account: str | None = typer.Option(None, "--account", help="Check one account only."),
) -> None:
    """Replay the journal and compare it with stored balances and holdings; exit 1 on any difference."""
    try:
        found = asyncio.run(_reconcile(get_settings().effective_database_url, account))
    except (OSError, asyncpg.PostgresError) as exc:
        raise _fail(exc) from exc
    for d in found:
        console.print(f"[red]{d.account_id}[/red] {d.item}: stored {d.stored}, journal {d.replayed}")
    if found:
        raise typer.Exit(1)
    console.print("ledger reconciles: every balance and holding matches the journal")
