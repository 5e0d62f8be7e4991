"""`brokerage frontdoor`: the FIX front door on its own, in front of N gateway shards.

It owns fix_port (and fix_tls_port), checks every Logon (gateway.frontdoor) and relays the connection
to the QuickFIX acceptor of the shard that owns the SenderCompID (``gateway_shard_backends``,
``gateway_shard_pins``; docs/adr/015-gateway-shards.md). One gateway without shards needs no separate
front door: `brokerage gateway` runs its own.
"""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import structlog
import typer

from brokerage.logs import configure_logging
from brokerage.settings import Settings, get_settings
from gateway.fix.audit import SessionAudit
from gateway.fix.service import front_door_limits
from gateway.fix.tls import server_context
from gateway.frontdoor.credentials import PostgresCredentials
from gateway.frontdoor.router import sharded
from gateway.frontdoor.server import FrontDoor, FrontDoorConfig

log = structlog.get_logger(__name__)


async def serve(settings: Settings) -> None:
    if not settings.gateway_shard_backends:
        raise ValueError("gateway_shard_backends is empty: no shards to route to")
    if not settings.fix_plain_enabled and settings.fix_tls_port is None:
        raise ValueError("fix_plain_enabled is off and no fix_tls_port: no way in for FIX clients")
    tls_context = None
    if settings.fix_tls_port is not None:
        if settings.fix_tls_certificate is None or settings.fix_tls_private_key is None:
            raise ValueError("fix_tls_port needs fix_tls_certificate and fix_tls_private_key")
        tls_context = server_context(settings.fix_tls_certificate, settings.fix_tls_private_key)
    router = sharded(settings.gateway_shard_backends, settings.gateway_shard_pins)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    pool = await asyncpg.create_pool(settings.effective_database_url, min_size=1, max_size=4)
    audit = SessionAudit(loop, pool)
    door = FrontDoor(FrontDoorConfig(settings.fix_target_comp_id, front_door_limits(settings)),
                     PostgresCredentials(pool), router, audit)
    try:
        if settings.fix_plain_enabled:
            await door.listen(settings.fix_host, settings.fix_port)
        if settings.fix_tls_port is not None:
            await door.listen(settings.fix_host, settings.fix_tls_port, tls_context)
        log.info("fix.frontdoor_ready", shards=[f"{b.host}:{b.port}" for b in router.shards])
        await stop.wait()
    finally:
        await door.close()
        await audit.flush()
        await pool.close()


def frontdoor() -> None:
    """Run the FIX front door alone, routing each client to its gateway shard (gateway_shard_backends)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(serve(settings))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


if __name__ == "__main__":  # `python -m brokerage.commands.frontdoor`
    typer.run(frontdoor)
