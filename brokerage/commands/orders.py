"""`brokerage orders unbooked|settle`: exchange fills the ledger refused, and their settlement.

    brokerage orders unbooked [--all] [--format table|json]
    brokerage orders settle VENUE_EXEC_ID --book|--write-off --reason TEXT

``--book`` books the fill exactly as the gateway books a fill (order state, journal, cash, holding, block
release, the client's ExecutionReport); ``--write-off`` records that it will not be booked. Both are audited
(``order.fill_settled``) and a fill is settled once only.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import asyncpg
import typer

from brokerage.commands.output import Format, FormatOption, emit
from brokerage.settings import get_settings
from gateway.oms.config import risk_limits
from gateway.oms.unbooked import AlreadySettled, SettleRefused, UnbookedFill, list_unbooked, settle

app = typer.Typer(help="Orders: exchange fills the ledger refused (unbooked) and their settlement.",
                  no_args_is_help=True)


async def _pool() -> asyncpg.Pool:
    return await asyncpg.create_pool(get_settings().effective_database_url, min_size=1, max_size=2)


def _table(fills: list[UnbookedFill]) -> str:
    if not fills:
        return "no unbooked fills"
    head = f"{'VENUE EXEC ID':<24} {'ORDER':<22} {'ACCOUNT':<14} {'SIDE':<10} {'SYMBOL':<7} {'QTY':>10} " \
           f"{'PRICE':>12} {'STATE':<12} ERROR / REASON"
    lines = [head]
    for f in fills:
        why = f.settled_reason if f.state != "open" else f.error
        lines.append(f"{f.venue_exec_id:<24} {f.order_id:<22} {f.account_id:<14} {f.side:<10} {f.symbol:<7} "
                     f"{f.last_qty.normalize():>10} {f.last_px.normalize():>12} {f.state:<12} {why}")
    return "\n".join(lines)


@app.command("unbooked")
def unbooked(all_states: Annotated[bool, typer.Option("--all", help="settled ones too")] = False,
             format: FormatOption = Format.table) -> None:
    """List exchange fills the ledger refused and nobody settled yet."""

    async def go() -> list[UnbookedFill]:
        pool = await _pool()
        try:
            return await list_unbooked(pool, ("open", "booked", "written_off") if all_states else ("open",))
        finally:
            await pool.close()

    try:
        fills = asyncio.run(go())
    except (OSError, asyncpg.PostgresError) as exc:
        typer.echo(f"error: database unavailable: {exc}", err=True)
        raise typer.Exit(1) from exc
    emit([f.as_json() for f in fills], format, lambda: typer.echo(_table(fills)))


@app.command("settle")
def settle_fill(venue_exec_id: Annotated[str, typer.Argument(help="the fill's venue ExecID (see `unbooked`)")],
                book: Annotated[bool, typer.Option("--book", help="book it like any fill")] = False,
                write_off: Annotated[bool, typer.Option("--write-off", help="do not book it")] = False,
                reason: Annotated[str, typer.Option("--reason", help="why (kept in the audit trail)")] = "",
                actor: Annotated[str, typer.Option("--actor", help="who settles")] = "cli:orders") -> None:
    """Book an unbooked fill (exactly once) or write it off, with a reason."""
    if book == write_off:
        typer.echo("error: give exactly one of --book or --write-off", err=True)
        raise typer.Exit(2)
    if not reason.strip():
        typer.echo("error: --reason is required", err=True)
        raise typer.Exit(2)

    async def go() -> bool:
        pool = await _pool()
        try:
            done = await settle(pool, venue_exec_id, "book" if book else "write_off", reason, actor,
                                risk_limits(get_settings()))
            return done.already_booked
        finally:
            await pool.close()

    try:
        already = asyncio.run(go())
    except AlreadySettled as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from exc
    except SettleRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(4) from exc
    except (OSError, asyncpg.PostgresError) as exc:
        typer.echo(f"error: database unavailable: {exc}", err=True)
        raise typer.Exit(1) from exc
    if book:
        typer.echo(f"fill {venue_exec_id} booked" + (" (it was already in the ledger: nothing posted twice)"
                                                      if already else ""))
    else:
        typer.echo(f"fill {venue_exec_id} written off")
