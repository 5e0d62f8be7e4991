"""`brokerage search reindex|query`: build the ticker index and try it from the shell."""

from __future__ import annotations

import asyncio
import time

import typer
from redis.asyncio import Redis
from redis.exceptions import RedisError
from rich.console import Console
from rich.table import Table

from brokerage.settings import get_settings
from search.index import IndexUnavailable, open_ticker_index
from search.query import InvalidQuery
from search.service import SearchService
from search.universe import universe_listings

app = typer.Typer(help="Ticker search: (re)build the index (tantivy under <data_dir>/search/, or Elasticsearch "
                       "at BROKERAGE_ELASTICSEARCH_URL) and query it.", no_args_is_help=True)
console = Console()


async def _reindex(extend_to: int | None) -> tuple[int, int | None]:
    settings = get_settings()
    listings = universe_listings(extend_to)
    index = open_ticker_index(settings, create=True)
    try:
        count = await index.replace_all(listings)
    finally:
        await index.close()
    redis = Redis.from_url(settings.effective_redis_url, socket_connect_timeout=2)
    try:
        dropped: int | None = await SearchService(index, redis, settings.search_cache_ttl_seconds).clear_cache()
    except (RedisError, OSError):
        dropped = None  # no Redis running: nothing cached either
    finally:
        await redis.aclose()  # type: ignore[attr-defined,unused-ignore]
    return count, dropped


@app.command()
def reindex(
    extend_to: int = typer.Option(0, "--extend-to", min=0, max=1_000_000,
                                  help="Add generated listings until there are N in all (benchmarks)."),
) -> None:
    """Load the exchange's universe (refdata) into the index, replacing its content."""
    started = time.perf_counter()
    try:
        count, dropped = asyncio.run(_reindex(extend_to or None))
    except (IndexUnavailable, OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    cache = "Redis not reachable, cache untouched" if dropped is None else f"{dropped} cached results dropped"
    console.print(f"indexed {count} listings in {time.perf_counter() - started:.1f}s ({cache})")


@app.command()
def query(
    text: str = typer.Argument(..., help="Ticker or company name, e.g. AP, appel, 'general motors'."),
    limit: int = typer.Option(10, min=1, max=50),
) -> None:
    """Search the index (without quotes) and print the ranked listings."""
    from search.query import parse_query

    async def run() -> list[list[str]]:
        index = open_ticker_index(get_settings())
        try:
            return [[x.symbol, x.name, x.exchange, x.sector, f"{x.market_cap:,.0f}"]
                    for x in await index.search(parse_query(text), limit)]
        finally:
            await index.close()

    try:
        rows = asyncio.run(run())
    except (InvalidQuery, IndexUnavailable) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    table = Table("symbol", "name", "exchange", "sector", "market cap")
    for row in rows:
        table.add_row(*row)
    console.print(table)
