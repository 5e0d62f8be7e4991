"""`brokerage kill-switch on|off [--account ACC]`: stop trading for one account or for everyone.

Engaged, the gateway refuses new orders (position-reducing ones may pass, see gateway.oms.risk) and
cancels the working orders it covers; the change is recorded as a ``risk.kill_switch`` audit event.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import asyncpg
import typer

from brokerage.settings import get_settings
from gateway.oms.controls import set_kill_switch

app = typer.Typer(help="Stop trading for one account (--account) or for everyone: refuse new orders and cancel "
                  "working ones.", no_args_is_help=True)


def _run(engaged: bool, account: str | None, reason: str) -> None:
    async def go() -> bool:
        pool = await asyncpg.create_pool(get_settings().effective_database_url, min_size=1, max_size=1)
        try:
            return await set_kill_switch(pool, engaged, account, "cli:kill-switch", reason)
        finally:
            await pool.close()

    try:
        changed = asyncio.run(go())
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (OSError, asyncpg.PostgresError) as exc:
        typer.echo(f"error: database unavailable: {exc}", err=True)
        raise typer.Exit(1) from exc
    scope = f"account {account}" if account else "global"
    state = "engaged" if engaged else "released"
    typer.echo(f"kill switch ({scope}) {state}" + ("" if changed else " (already)"))


AccountOption = Annotated[str | None, typer.Option("--account", help="one account (default: global switch)")]
ReasonOption = Annotated[str, typer.Option("--reason", help="why (kept in the audit trail)")]


@app.command("on")
def on(account: AccountOption = None, reason: ReasonOption = "") -> None:
    """Engage: refuse new orders and cancel working ones."""
    _run(True, account, reason)


@app.command("off")
def off(account: AccountOption = None, reason: ReasonOption = "") -> None:
    """Release: accept orders again."""
    _run(False, account, reason)
