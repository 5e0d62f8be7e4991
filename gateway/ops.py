"""The gateway's ops endpoint (``brokerage.ops_http``): ready when the exchange link is logged on and the
ledger database answers; metrics of the FIX engines, the order path's queues and pool, halts and margin calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import REGISTRY

from brokerage.ops_http import OpsServer
from brokerage.settings import Settings
from fixsession.metrics import FixSessionsCollector
from gateway.frontdoor.metrics import FrontDoorCollector
from gateway.oms import metrics as oms_metrics

if TYPE_CHECKING:
    from gateway.fix.service import GatewayFix
    from gateway.oms.bootstrap import OrderPath

__all__ = ["start_gateway_ops"]

_registered: list[object] = []  # one process, one set of collectors (tests may start the gateway twice)


async def start_gateway_ops(settings: Settings, side: GatewayFix, path: OrderPath | None) -> OpsServer:
    """Build and start the endpoint on gateway_metrics_port (0: not served; a taken port: logged, skipped)."""

    async def exchange_link() -> str | None:
        if side.exchange is None:
            return None  # run without the exchange link (tests, conformance): nothing to wait for
        return None if side.exchange.connected.is_set() else "not logged on to the exchange"

    async def database() -> str | None:
        pool = path.pool if path is not None and path.pool is not None else side.pool
        await pool.fetchval("SELECT 1", timeout=1.5)
        return None

    async def refresh() -> None:
        if path is not None and path.pool is not None:
            await oms_metrics.refresh_from_database(path.pool)

    for collector in _registered:
        REGISTRY.unregister(collector)  # type: ignore[arg-type]
    _registered.clear()
    links = {"client": side.client_engine.session_ids}
    if side.exchange_engine is not None:
        links["exchange"] = side.exchange_engine.session_ids
    collectors: list[object] = [FixSessionsCollector(links), oms_metrics.OrderPathCollector(path),
                                FrontDoorCollector(side.front_door)]
    for collector in collectors:
        REGISTRY.register(collector)  # type: ignore[arg-type]
        _registered.append(collector)
    server = OpsServer("gateway", settings.metrics_host, settings.gateway_metrics_port,
                       checks={"exchange_link": exchange_link, "database": database}, refresh=refresh)
    await server.start()
    return server
