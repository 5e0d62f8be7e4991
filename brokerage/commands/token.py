"""`brokerage token create`: issue a REST API bearer token (printed once; only its hash is stored)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import asyncpg
import typer
from rich.console import Console

from brokerage.settings import get_settings
from ledger.errors import LedgerError
from ledger.provisioning import ROLES, IssuedToken, issue_api_token

app = typer.Typer(help="REST API tokens.", no_args_is_help=True)
console = Console(stderr=True)


async def _create(role: str, accounts: list[str], label: str) -> IssuedToken:
    pool = await asyncpg.create_pool(get_settings().effective_database_url, min_size=1, max_size=1)
    try:
        return await issue_api_token(pool, role, account_ids=accounts, label=label)
    finally:
        await pool.close()


@app.command()
def create(
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")],
    account: Annotated[list[str] | None, typer.Option("--account", help="Account the token may act on (repeatable).")
                       ] = None,
    label: Annotated[str, typer.Option("--label", help="Free text to recognise the token by.")] = "",
) -> None:
    """Create a token and print it on stdout (the only time it is shown)."""
    try:
        issued = asyncio.run(_create(role, account or [], label))
    except asyncpg.UndefinedTableError as exc:
        console.print(f"[red]error:[/red] the ledger schema is missing ({exc}); run `brokerage db upgrade` first")
        raise typer.Exit(1) from exc
    except (OSError, asyncpg.PostgresError, LedgerError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"token {issued.token_id} ({issued.role}) created; store it now, it is not shown again:")
    typer.echo(issued.token)
