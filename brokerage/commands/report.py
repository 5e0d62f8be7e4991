"""`brokerage report NAME --from --to [--account] [--symbol] [--format table|csv|json] [--output FILE]`.

Asks the running audit shipper (it owns chdb); when none runs, opens the engine (or the ClickHouse server)
directly. Tables print with rich; exports to a file show a progress bar.
"""

from __future__ import annotations

import asyncio
import csv
import sys
from enum import StrEnum
from pathlib import Path
from typing import IO

import asyncpg
import orjson
import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from audit.client import ShipperClient
from audit.pseudonyms import PseudonymStore
from audit.reports import ReportError, ReportRequest, csv_cell, json_value, report_names, run_report
from audit.sink import QueryResult, SinkUnavailable
from brokerage.settings import get_settings

console = Console()
errors = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


async def fetch(request: ReportRequest) -> QueryResult:
    settings = get_settings()
    client = ShipperClient.from_settings(settings)
    if await client.is_up():
        return await client.run(request)
    from audit.service import open_sink

    sink = open_sink(settings)
    try:
        pool = await asyncpg.create_pool(settings.effective_database_url, min_size=1, max_size=2, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        pool = None  # reports still run; accounts stay pseudonymous and --account is refused
    try:
        return await run_report(sink, request, PseudonymStore(pool) if pool else None)
    finally:
        if pool is not None:
            await pool.close()


def _write(result: QueryResult, fmt: Format, out: IO[str], progress: bool) -> None:
    rows = track(result.rows, description="exporting", console=errors) if progress else result.rows
    if fmt is Format.csv:
        writer = csv.writer(out)
        writer.writerow(result.columns)
        for row in rows:
            writer.writerow([csv_cell(v) for v in row])  # formula-looking text neutralised (CSV injection)
    else:
        out.write("[\n")
        for i, row in enumerate(rows):
            record = dict(zip(result.columns, (json_value(v) for v in row), strict=True))
            out.write(("," if i else "") + orjson.dumps(record).decode() + "\n")
        out.write("]\n")


def _print_table(title: str, result: QueryResult) -> None:
    """A table when it fits the terminal; otherwise one block of `column  value` lines per row, which stays
    readable where a 20-column table would be squeezed to ellipses."""
    cells = [["" if v is None else str(json_value(v)) for v in row] for row in result.rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(result.columns)]
    if sum(widths) + 3 * len(widths) + 1 <= console.width:
        table = Table(*result.columns, title=title)
        for row in cells:
            table.add_row(*row)
        console.print(table)
    else:
        console.print(f"[bold]{title}[/bold]")
        label = max((len(c) for c in result.columns), default=0)
        for number, row in enumerate(cells, start=1):
            console.rule(f"row {number}", align="left")
            for column, value in zip(result.columns, row, strict=True):
                console.print(f"[dim]{column:<{label}}[/dim]  {value}", highlight=False)
    console.print(f"{len(result.rows)} rows")


def report(
    name: str = typer.Argument(..., help="Report name: blotter, lifecycle-latency, wash-sales, best-execution, "
                                         "risk-exceptions."),
    from_: str = typer.Option("30d", "--from", help="Start of the period: ISO-8601 date or timestamp (UTC), "
                                                   "now, today, yesterday, or Nd (N days ago)."),
    to: str = typer.Option("now", "--to", help="End of the period, excluded (same forms as --from)."),
    account: str | None = typer.Option(None, help="Only this account."),
    symbol: str | None = typer.Option(None, help="Only this symbol."),
    format: Format = typer.Option(Format.table, "--format", help="table, csv or json."),  # noqa: B008
    output: Path | None = typer.Option(None, help="Write to this file (csv/json) with a progress bar."),  # noqa: B008
) -> None:
    """Run a compliance report over the audit trail."""
    try:
        request = ReportRequest.parse(name, from_, to, account, symbol)
        result = asyncio.run(fetch(request))
    except ReportError as exc:
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except SinkUnavailable as exc:
        errors.print(f"[red]error:[/red] audit store unavailable: {exc}")
        raise typer.Exit(1) from exc
    if format is Format.table:
        period = f"{request.from_ts:%Y-%m-%d %H:%M} → {request.to_ts:%Y-%m-%d %H:%M}"
        _print_table(f"{name}  {period}", result)
        return
    if output is None:
        _write(result, format, sys.stdout, progress=False)
        return
    with output.open("w", newline="") as out:
        _write(result, format, out, progress=True)
    errors.print(f"{len(result.rows)} rows written to {output}")


report.__doc__ = f"Run a compliance report over the audit trail ({', '.join(report_names())})."
