"""`brokerage gateway`: the FIX gateway process (front door on the plain/TLS ports, client acceptor
behind it, exchange link)."""

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


async def serve(settings: Settings, exchange_link: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    order_path = OrderPath(settings) if exchange_link else None
    fix_side = await GatewayFix.start(settings, exchange_link=exchange_link,
                                      configure=order_path.configure if order_path else None)
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
) -> None:
    """Run the FIX gateway: client sessions from the fix_sessions table through the FIX front door on
    fix_port (TLS on fix_tls_port when configured; fix_plain_enabled=false closes the plain port) and
    the initiator session toward the exchange."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(serve(settings, exchange_link))
    except NoSessionsProvisioned as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


if __name__ == "__main__":  # `python -m brokerage.commands.gateway`: the same command without the CLI
    typer.run(gateway)
