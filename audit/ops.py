"""The audit shipper's ops endpoint (``brokerage.ops_http``) on audit_metrics_port: ready while the shipper
loop turns (a round began less than ``ready_audit_loop_max_age_seconds`` ago); the shipper's metrics
(``audit.metrics``: events shipped, outbox backlog and lag)."""

from __future__ import annotations

from collections.abc import Awaitable

from audit import metrics
from brokerage.ops_http import OpsServer
from brokerage.settings import Settings

__all__ = ["audit_ops", "run_with_ops"]


def audit_ops(settings: Settings) -> OpsServer:
    max_age = settings.ready_audit_loop_max_age_seconds

    async def shipper_loop() -> str | None:
        age = metrics.loop_age()
        if age is None:
            return "the shipper loop has not started"
        return None if age <= max_age else f"the shipper loop last turned {age:.1f}s ago"

    return OpsServer("audit", settings.metrics_host, settings.audit_metrics_port, checks={"shipper": shipper_loop})


async def run_with_ops(settings: Settings, shipper: Awaitable[None]) -> None:
    """Run ``shipper`` (``audit.service.run``) with the ops endpoint beside it."""
    async with audit_ops(settings):
        await shipper
