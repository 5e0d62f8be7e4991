"""The market data ingestor's ops endpoint (``brokerage.ops_http``): ready while quotes flow (the last batch
reached Redis less than ``ready_quote_max_age_seconds`` ago); metrics of the ingestor and its FIX session."""

from __future__ import annotations

from prometheus_client import REGISTRY

from brokerage.ops_http import OpsServer
from brokerage.settings import Settings
from fixsession.engine import Engine
from fixsession.metrics import FixSessionsCollector
from marketdata import metrics

__all__ = ["start_marketdata_ops"]


async def start_marketdata_ops(settings: Settings, port: int, engine: Engine) -> OpsServer:
    max_age = settings.ready_quote_max_age_seconds

    async def quotes_flowing() -> str | None:
        age = metrics.quote_age()
        if age is None:
            return "no quote written yet"
        return None if age <= max_age else f"last quote {age:.1f}s ago (more than {max_age:g}s)"

    async def exchange_feed() -> str | None:
        return None if any(engine.is_logged_on(sid) for sid in engine.session_ids()) else \
            "market data session not logged on to the exchange"

    REGISTRY.register(FixSessionsCollector({"exchange": engine.session_ids}))
    server = OpsServer("marketdata", settings.metrics_host, port,
                       checks={"quotes": quotes_flowing, "exchange_feed": exchange_feed})
    await server.start()
    return server
