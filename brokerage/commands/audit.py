"""`brokerage audit run|verify|rebuild-report-tables|forget`: the audit shipper process, chain verification,
the report tables' repair, GDPR erasure."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import typer
import uvloop
from rich.console import Console

from audit.client import ShipperClient
from audit.pseudonyms import PseudonymStore
from audit.sink import SinkUnavailable
from brokerage.logs import configure_logging
from brokerage.settings import get_settings

app = typer.Typer(help="Audit trail: ship the outbox to ClickHouse, verify the hash chains, forget accounts.",
                  no_args_is_help=True)
console = Console()


@app.command()
def run() -> None:
    """Run the shipper: outbox → ClickHouse, plus its local endpoint for reports, verify and /metrics."""
    from audit import service
    from audit.ops import run_with_ops

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        uvloop.run(run_with_ops(settings, service.run(settings)))  # /health /ready /metrics (ADR 016)
    except SinkUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


async def _verify() -> dict[str, Any]:
    settings = get_settings()
    client = ShipperClient.from_settings(settings)
    if await client.is_up():
        return await client.verify()
    from audit.service import open_sink  # nobody owns the engine: open it here
    from audit.sink import verify_trail

    checked, broken = await asyncio.to_thread(verify_trail, open_sink(settings))
    return {"checked": checked, "break": None if broken is None else {
        "stream": broken.stream, "stream_seq": broken.stream_seq, "event_id": broken.event_id,
        "problem": broken.problem}}


@app.command()
def verify() -> None:
    """Recompute every hash chain of the audit trail and report the first break (exit 1 if any)."""
    try:
        outcome = asyncio.run(_verify())
    except SinkUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    broken = outcome["break"]
    if broken is None:
        console.print(f"[green]ok[/green]: {outcome['checked']} events, every chain intact")
        return
    console.print(
        f"[red]chain broken[/red] after {outcome['checked']} good events: stream {broken['stream']} "
        f"#{broken['stream_seq']} event {broken['event_id']}: {broken['problem']}"
    )
    raise typer.Exit(1)


async def _rebuild_report_tables() -> list[str]:
    settings = get_settings()
    client = ShipperClient.from_settings(settings)
    if await client.is_up():
        return await client.rebuild_report_tables()
    from audit.service import open_sink  # nobody owns the engine: open it here
    from audit.sink import rebuild_report_tables

    return await asyncio.to_thread(rebuild_report_tables, open_sink(settings))


@app.command("rebuild-report-tables")
def rebuild_report_tables_command() -> None:
    """Recompute the report tables (wash-sales, best-execution) from the verified trail, when `verify` says
    one differs from it (ADR 043). Reports read partial tables while it runs."""
    try:
        rebuilt = asyncio.run(_rebuild_report_tables())
    except SinkUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"[green]rebuilt[/green]: {', '.join(rebuilt)}")


async def _forget(account: str, requested_by: str) -> str | None:
    pool = await asyncpg.create_pool(get_settings().effective_database_url, min_size=1, max_size=1)
    try:
        return await PseudonymStore(pool).forget(account, requested_by)
    finally:
        await pool.close()


@app.command()
def forget(
    account: str = typer.Argument(..., help="The account id to stop identifying in the audit trail."),
    requested_by: str = typer.Option("", help="Who asked (recorded with the erasure)."),
) -> None:
    """Delete ACCOUNT's pseudonym key: its trail stays (chains still verify) but no longer identifies it."""
    try:
        name = asyncio.run(_forget(account, requested_by))
    except (OSError, asyncpg.PostgresError) as exc:
        console.print(f"[red]error:[/red] PostgreSQL: {exc}")
        raise typer.Exit(2) from exc
    if name is None:
        console.print(f"nothing to forget: account {account!r} has no pseudonym (no events, or already forgotten)")
        return
    console.print(f"forgotten: account {account!r}; its events remain under pseudonym {name}, unlinkable")
