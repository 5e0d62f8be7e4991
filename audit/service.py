"""Wiring of the audit shipper process (``brokerage audit run``): the sink from settings, the shipper loop and
its local HTTP endpoint, in one asyncio program.

The endpoint (``http://<audit_host>:<audit_port>``, loopback by default) exists because chdb lets only one
process open its data directory: the shipper owns it, and the CLI and the REST API ask the shipper for
reports and chain verification instead of opening the engine themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket

import asyncpg
import structlog
import uvicorn

from audit.retention import RetentionPolicy
from audit.server import create_shipper_app
from audit.shipper import Shipper, ShipperConfig
from audit.sink import AuditSink
from brokerage.settings import Settings

log = structlog.get_logger("audit.service")


def retention_policy(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(settings.audit_retention_days, settings.audit_hot_days, settings.audit_cold_volume)


def open_sink(settings: Settings) -> AuditSink:
    """The native adapter when a ClickHouse server is configured, otherwise chdb under the data directory."""
    if settings.clickhouse_url:
        from audit.native_sink import NativeSink

        return NativeSink(settings.clickhouse_url)
    from audit.chdb_sink import ChdbSink

    return ChdbSink(settings.resolved_data_dir / "audit" / "chdb", settings.audit_clickhouse_database)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Ship and serve until SIGINT/SIGTERM (handled by uvicorn) or until ``stop`` is set."""
    sink = open_sink(settings)
    await asyncio.to_thread(sink.ensure_schema, retention_policy(settings))
    pool = await asyncpg.create_pool(settings.effective_database_url, min_size=1, max_size=4)
    stop = stop or asyncio.Event()
    shipper = Shipper(
        pool, sink, ShipperConfig(settings.audit_batch_size, settings.audit_flush_interval_seconds)
    )
    app = create_shipper_app(sink, pool)
    server = uvicorn.Server(uvicorn.Config(
        app, host=settings.audit_host, port=settings.audit_port, log_config=None, lifespan="off",
    ))
    if not _is_loopback(settings.audit_host):
        log.warning("audit.endpoint_not_loopback", host=settings.audit_host,
                    hint="reports need a compliance/admin token, but keep 9880 off the network if you can")
    log.info("audit.started", endpoint=f"http://{settings.audit_host}:{settings.audit_port}",
             clickhouse="native" if settings.clickhouse_url else "chdb")
    shipping = asyncio.create_task(shipper.run(stop))

    async def _stop_server() -> None:
        await stop.wait()
        server.should_exit = True

    stopper = asyncio.create_task(_stop_server())
    try:
        await server.serve()
    finally:
        stop.set()
        await stopper
        with contextlib.suppress(asyncio.CancelledError):
            await shipping
        app.state.report_threads.shutdown(wait=False, cancel_futures=True)
        await pool.close()
        sink.close()
        log.info("audit.stopped")
