"""`brokerage exchange`: the simulated venue (matching engine, market makers, FIX 4.4 acceptor)."""

from __future__ import annotations

import asyncio
import signal
from datetime import time
from typing import Annotated

import typer

from brokerage.logs import configure_logging
from brokerage.settings import get_settings


def exchange(
    seed: Annotated[int | None, typer.Option(help="random seed of prices and flow (default: settings)")] = None,
    port: Annotated[int | None, typer.Option(help="FIX acceptor port (default: settings exchange_port)")] = None,
    symbols: Annotated[str | None, typer.Option(
        help="comma-separated symbols to list (default: the whole universe)")] = None,
    step: Annotated[float, typer.Option(help="seconds between simulation steps")] = 0.5,
    time_scale: Annotated[float, typer.Option(help="simulated seconds per real second (price volatility)")] = 1.0,
    taker_probability: Annotated[float, typer.Option(
        help="chance per symbol per step of a small market order from the noise trader")] = 0.02,
    end_of_day: Annotated[str | None, typer.Option(
        help="UTC time HH:MM at which Day orders expire each day (default: the session close from settings: "
             "exchange_calendar closes, or exchange_day_close in exchange_day_close_tz when trading_24h)")] = None,
    reset_on_logon: Annotated[bool, typer.Option(help="reset sequence numbers at each logon (tests)")] = False,
) -> None:
    """Run the simulated exchange until Ctrl-C / SIGTERM (SIGUSR1: close the trading day now)."""
    from exchange.ops import exchange_ops
    from exchange.server import ExchangeOptions, ExchangeServer
    from exchange.session_close import CloseSchedule
    from gateway.shards import exchange_comp_ids

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        eod = time.fromisoformat(end_of_day) if end_of_day else None
    except ValueError as exc:
        raise typer.BadParameter(f"--end-of-day must be HH:MM: {exc}") from exc
    try:
        closes = (CloseSchedule.daily_at(time.fromisoformat(settings.exchange_day_close),
                                         settings.exchange_day_close_tz)
                  if settings.trading_24h else CloseSchedule(settings.exchange_calendar))
    except ValueError as exc:
        raise typer.BadParameter(f"exchange_day_close must be HH:MM: {exc}") from exc
    from brokerage.secrets import exchange_password

    order_comp_ids = exchange_comp_ids(settings.gateway_exchange_comp_id, len(settings.gateway_shard_backends))
    peers = (*order_comp_ids, *settings.exchange_md_comp_ids)
    passwords = {peer: exchange_password(settings, peer) for peer in peers} if settings.exchange_auth else None
    options = ExchangeOptions(
        port=port or settings.exchange_port, host=settings.exchange_host, data_dir=settings.data_dir,
        seed=settings.exchange_seed if seed is None else seed,
        symbols=tuple(s for s in symbols.split(",") if s.strip()) if symbols else None,
        comp_id=settings.exchange_comp_id,  # one order link per gateway shard: GATEWAY, GATEWAY-2, ...
        order_comp_ids=order_comp_ids,
        md_comp_ids=settings.exchange_md_comp_ids, step_seconds=step, time_scale=time_scale,
        taker_probability=taker_probability, end_of_day=eod, reset_on_logon=reset_on_logon,
        close_schedule=closes, journal_fsync=settings.exchange_journal_fsync,
        snapshot_every=settings.exchange_snapshot_every, snapshot_seconds=settings.exchange_snapshot_seconds,
        passwords=passwords)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        server = ExchangeServer(options)
        loop.add_signal_handler(signal.SIGUSR1, server.request_end_of_day)  # the process owner only
        async with exchange_ops(settings, server):  # /health /ready /metrics (ADR 016)
            await server.run(stop)

    try:
        asyncio.run(serve())
    except ValueError as exc:  # e.g. a symbol outside the universe
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
