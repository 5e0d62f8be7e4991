"""`brokerage demo seed`: demo FIX sessions CLIENT1..CLIENT5, their funded accounts, the back office's drop-copy
session DROPCOPY1 (every demo account) and an admin API token."""

from __future__ import annotations

import asyncio

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from brokerage.settings import get_settings
from ledger.errors import LedgerError
from ledger.provisioning import DEMO_CLIENTS, DEMO_DROP_COPY, DEMO_TARGET_COMP_ID, SeedReport, seed_demo

app = typer.Typer(help="Demo data for local runs.", no_args_is_help=True)
console = Console()


async def _seed() -> SeedReport:
    settings = get_settings()
    fixed = settings.admin_token.get_secret_value() if settings.admin_token else None
    pool = await asyncpg.create_pool(settings.effective_database_url, min_size=1, max_size=2)
    try:
        return await seed_demo(pool, settings.resolved_data_dir, admin_token=fixed)
    finally:
        await pool.close()


@app.command()
def seed() -> None:
    """Create (or keep) the demo sessions, accounts, opening deposits and admin token. Safe to run again."""
    try:
        report = asyncio.run(_seed())
    except asyncpg.UndefinedTableError as exc:
        console.print(f"[red]error:[/red] the ledger schema is missing ({exc}); run `brokerage db upgrade` first")
        raise typer.Exit(1) from exc
    except (OSError, asyncpg.PostgresError, LedgerError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    table = Table(title=f"Demo FIX sessions (target {DEMO_TARGET_COMP_ID}, FIX.4.4)")
    for column in ("SenderCompID", "password", "account", "type", "opening cash"):
        table.add_column(column)
    for client in DEMO_CLIENTS:
        table.add_row(client.sender_comp_id, client.password, client.account_id, client.account_type.value,
                      f"{client.opening_cash:,.2f} USD")
    table.add_row(DEMO_DROP_COPY.sender_comp_id, DEMO_DROP_COPY.password, "all demo accounts", "drop copy", "-")
    console.print(table)
    console.print(f"accounts created: {report.accounts_created}, opening deposits made: {report.deposits_made}")
    console.print(f"admin token ({report.admin_token_source}, saved in {report.admin_token_file}):")
    typer.echo(report.admin_token)
