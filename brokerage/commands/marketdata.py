"""`brokerage marketdata`: the ingestor (exchange FIX market data → Redis quotes and pub/sub)."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from brokerage.logs import configure_logging
from brokerage.settings import get_settings


def marketdata(
    symbols: Annotated[str | None, typer.Option(
        help="comma-separated symbols to subscribe to (default: the exchange's whole universe)")] = None,
    batch_max: Annotated[int | None, typer.Option(
        help="quotes per pipelined Redis write (default: settings marketdata_batch_max)")] = None,
    shard: Annotated[str | None, typer.Option(
        help="K/N: run as ingestor K of N (symbols split by hash; session K's SenderCompID is the K-th of "
             "BROKERAGE_EXCHANGE_MD_COMP_IDS)")] = None,
    metrics_port: Annotated[int | None, typer.Option(
        help="serve Prometheus metrics on this port (default: settings marketdata_metrics_port; 0 = off)")] = None,
) -> None:
    """Subscribe to the exchange's market data over FIX and keep quote:SYMBOL current in Redis."""
    import structlog
    from redis.asyncio import Redis

    from brokerage.secrets import exchange_password
    from marketdata.fix_feed import MarketDataFeed, feed_engine, symbols_for_shard
    from marketdata.ingestor import Ingestor
    from marketdata.ops import start_marketdata_ops
    from marketdata.redis_quotes import QuoteWriter
    from refdata.instruments import load_universe

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    log = structlog.get_logger("marketdata")
    wanted = [s.strip().upper() for s in symbols.split(",") if s.strip()] if symbols else [
        i.symbol for i in load_universe()]
    index, count = 0, 1
    if shard:
        try:
            index, count = (int(part) for part in shard.split("/", 1))
            wanted = symbols_for_shard(wanted, index, count)
        except ValueError as exc:
            raise typer.BadParameter(f"--shard must be K/N with 0 <= K < N: {exc}") from exc
        if index >= len(settings.exchange_md_comp_ids):
            raise typer.BadParameter(f"shard {index} needs a {index + 1}th entry in BROKERAGE_EXCHANGE_MD_COMP_IDS")
    if not wanted:
        raise typer.BadParameter("no symbols to subscribe to")

    port = settings.marketdata_metrics_port if metrics_port is None else metrics_port

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        redis = Redis.from_url(settings.effective_redis_url)
        ingestor = Ingestor(QuoteWriter(redis, publish=True), batch_max or settings.marketdata_batch_max)
        feed = MarketDataFeed(ingestor, wanted, loop)
        sender = settings.exchange_md_comp_ids[index]
        feed.logon_password = exchange_password(settings, sender)  # the exchange checks it (ADR 007)
        engine = feed_engine(feed, settings.data_dir, settings.exchange_host, settings.exchange_port, sender,
                             settings.exchange_comp_id)
        engine.start()
        log.info("marketdata.started", exchange=f"{settings.exchange_host}:{settings.exchange_port}",
                 symbols=len(wanted), sender=sender)
        ops = await start_marketdata_ops(settings, port, engine)  # /health /ready /metrics (ADR 016)
        try:
            await ingestor.run(stop)
        finally:
            await ops.close()
            await asyncio.to_thread(engine.stop)
            await redis.aclose()  # type: ignore[attr-defined,unused-ignore]
            log.info("marketdata.stopped", quotes_written=ingestor.stats.quotes_written)

    asyncio.run(run())
