"""The exchange's ops endpoint (``brokerage.ops_http``) on exchange_metrics_port: ready once its FIX acceptor
is up; metrics of its sessions (order and market data links) and messages (``fixsession.metrics``)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from brokerage.ops_http import OpsServer
from brokerage.settings import Settings
from exchange.server import ExchangeServer
from fixsession.metrics import FixSessionsCollector

__all__ = ["exchange_ops"]


def exchange_ops(settings: Settings, server: ExchangeServer) -> OpsServer:
    md_peers = set(server.options.md_comp_ids)

    def sessions(md: bool) -> list[object]:
        engine = server.engine
        if engine is None:
            return []
        return [sid for sid in engine.session_ids() if (sid.getTargetCompID().getValue() in md_peers) == md]

    async def acceptor() -> str | None:
        engine = server.engine
        return None if engine is not None and engine.running else "the FIX acceptor is not listening yet"

    REGISTRY.register(FixSessionsCollector(
        {"orders": lambda: sessions(False), "market_data": lambda: sessions(True)}))
    return OpsServer("exchange", settings.metrics_host, settings.exchange_metrics_port,
                     checks={"acceptor": acceptor})
