"""`brokerage halt on|off [--reason TEXT]`: halt or resume trading market-wide, as an operator.

On: new orders are refused (103=2, the halt's reason in 58) until `halt off`; the gateway does not need to
be running, and a gateway started later refuses them too. Off: ends every active halt, the operator's and
a circuit breaker's (a breaker level that fired today stays used: it does not halt again at once).
`halt status` lists the active halts. Every change is a ``risk.halt`` audit event (outbox).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import asyncpg
import typer

from brokerage.settings import get_settings
from gateway.oms.halts import ActiveHalt, active_halts, set_operator_halt

app = typer.Typer(help="Halt or resume trading market-wide (operator halt; also ends a circuit breaker halt).",
                  no_args_is_help=True)

ReasonOption = Annotated[str, typer.Option("--reason", help="why (shown to clients, kept in the audit trail)")]


def _run_change(engaged: bool, reason: str) -> int:
    async def go() -> int:
        pool = await asyncpg.create_pool(get_settings().effective_database_url, min_size=1, max_size=1)
        try:
            return await set_operator_halt(pool, engaged, "cli:halt", reason)
        finally:
            await pool.close()

    try:
        return asyncio.run(go())
    except (OSError, asyncpg.PostgresError) as exc:
        typer.echo(f"error: database unavailable: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command("on")
def on(reason: ReasonOption = "") -> None:
    """Halt trading: refuse new orders market-wide until `halt off`."""
    changed = _run_change(True, reason)
    typer.echo("trading halted" if changed else "trading halted (already, by the operator)")


@app.command("off")
def off(reason: ReasonOption = "") -> None:
    """Resume trading: end every active halt."""
    ended = _run_change(False, reason)
    typer.echo(f"trading resumed ({ended} halt{'s' if ended != 1 else ''} ended)" if ended
               else "trading was not halted")


def _describe(halt: ActiveHalt) -> str:
    until = f"until {halt.ends_at:%Y-%m-%d %H:%M:%S} UTC" if halt.ends_at else "until lifted"
    return f"{halt.kind} since {halt.started_at:%Y-%m-%d %H:%M:%S} UTC by {halt.actor}, {until}: {halt.reason}"


@app.command("status")
def status() -> None:
    """List the active halts."""
    async def go() -> list[ActiveHalt]:
        conn = await asyncpg.connect(get_settings().effective_database_url)
        try:
            return await active_halts(conn)
        finally:
            await conn.close()

    try:
        halts = asyncio.run(go())
    except (OSError, asyncpg.PostgresError) as exc:
        typer.echo(f"error: database unavailable: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not halts:
        typer.echo("trading is not halted")
    for halt in halts:
        typer.echo(_describe(halt))
