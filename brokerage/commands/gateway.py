"""`brokerage gateway`: the FIX gateway process (front door on the plain/TLS ports, client acceptor
behind it, exchange link). ``--shard K/N``: one of N gateway processes, each serving the FIX sessions
placed on it, behind `brokerage frontdoor` (docs/adr/015-gateway-shards.md)."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from brokerage.logs import configure_logging
from brokerage.settings import Settings, get_settings
from gateway.fix.service import GatewayFix, NoSessionsProvisioned
from gateway.oms.bootstrap import OrderPath
from gateway.ops import start_gateway_ops
from gateway.shards import Shard, parse_backend


def shard_settings(settings: Settings, shard: Shard) -> Settings:
    """The settings shard K runs with: its own exchange-link CompID and its QuickFIX port from
    ``gateway_shard_backends`` (shard 0 of 1 runs with the settings as they are)."""
    if not shard.sharded:
        return settings
    backends = settings.gateway_shard_backends
    if len(backends) != shard.count:
        raise ValueError(f"--shard {shard.index}/{shard.count} needs gateway_shard_backends with {shard.count} "
                         f"entries (host:port per shard), found {len(backends)}")
    _, port = parse_backend(backends[shard.index])
    return settings.model_copy(update={
        "gateway_exchange_comp_id": shard.exchange_comp_id(settings.gateway_exchange_comp_id),
        "fix_backend_port": port})


async def serve(settings: Settings, exchange_link: bool, shard: Shard | None = None) -> None:
    shard = shard or Shard()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    order_path = OrderPath(settings, shard) if exchange_link else None
    fix_side = await GatewayFix.start(settings, exchange_link=exchange_link,
                                      configure=order_path.configure if order_path else None, shard=shard)
    ops = await start_gateway_ops(settings, fix_side, order_path)  # h11: /health /ready /metrics
    try:
        if order_path is not None:
            await order_path.started(fix_side)
        await stop.wait()
    finally:
        await ops.close()
        await fix_side.stop()
        if order_path is not None:
            await order_path.stop()


def gateway(
    exchange_link: Annotated[bool, typer.Option(
        help="connect to the exchange (GATEWAY → EXCHANGE at exchange_host:exchange_port)")] = True,
    shard: Annotated[str, typer.Option(
        help="K/N: run shard K (from 0) of N gateway processes; each serves the sessions placed on it "
             "(CRC-32 of the SenderCompID mod N, or gateway_shard_pins), listens on its entry of "
             "gateway_shard_backends and links to the exchange as GATEWAY-<K+1> (shard 0: GATEWAY); "
             "`brokerage frontdoor` routes clients to it")] = "0/1",
) -> None:
    """Run the FIX gateway: client sessions from the fix_sessions table through the FIX front door on
    fix_port (TLS on fix_tls_port when configured; fix_plain_enabled=false closes the plain port) and
    the initiator session toward the exchange."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        placed = Shard.parse(shard)
        settings = shard_settings(settings, placed)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        asyncio.run(serve(settings, exchange_link, placed))
    except NoSessionsProvisioned as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


if __name__ == "__main__":  # `python -m brokerage.commands.gateway`: the same command without the CLI
    typer.run(gateway)
