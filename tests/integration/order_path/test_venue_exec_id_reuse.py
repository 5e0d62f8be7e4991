"""A venue report whose ExecID the ledger already recorded: a resend for the same order is a silent no-op
(exactly-once); for ANOTHER order it is a venue reusing ExecIDs (FIX promises uniqueness per trading day only,
ADR 050): still not applied twice, but flagged (error log ``oms.venue_exec_id_reused``, counter
``brokerage_venue_exec_id_reused_total``, alert VenueExecIdReused) instead of dropped silently (ADR 052)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import structlog
from prometheus_client import REGISTRY

from gateway.oms.risk_config import RiskLimits
from gateway.oms.venue import VenueReports
from tests.integration.order_path.venue_kit import RecordingClients, cash_account, fill, market_buy

D = Decimal


def _reused() -> float:
    return REGISTRY.get_sample_value("brokerage_venue_exec_id_reused_total") or 0.0


async def test_an_exec_id_reused_for_another_order_is_flagged_not_applied(db_pool: asyncpg.Pool) -> None:
    pool = db_pool
    await cash_account(pool, D(5000))
    await market_buy(pool, "O1")
    await market_buy(pool, "O2")
    venue = VenueReports(pool, RecordingClients(), RiskLimits(), lanes=2)  # type: ignore[arg-type]
    venue.accounts.update({"O1": "A1", "O2": "A1"})
    before = _reused()
    try:
        with structlog.testing.capture_logs() as logs:
            # X1 fills O1; the exchange resends it (a no-op); then reports X1 again, for O2
            reports = [fill("O1", "X1", D(100)), fill("O1", "X1", D(100)), fill("O2", "X1", D(100))]
            for seq, item in enumerate(reports, start=1):
                await venue._dispatch("O1", item, seq)
            await asyncio.wait_for(venue.drain(), 10)
            assert _reused() == before + 1
            # the same, once X1's report is committed (found in the executions table, not in the batch)
            await venue._dispatch("O1", fill("O2", "X1", D(100)), 4)
            await asyncio.wait_for(venue.drain(), 10)
            assert _reused() == before + 2
    finally:
        await venue.stop()
    flagged = [e for e in logs if e["event"] == "oms.venue_exec_id_reused"]
    assert [(e["exec_id"], e["order_id"], e["recorded_order_id"], e["log_level"]) for e in flagged] == [
        ("X1", "O2", "O1", "error")] * 2
    assert venue.duplicates == 3  # the resend and the two reuses: none applied
    # the ledger holds X1 once, for O1; O2 is untouched (its fill is for operations to settle)
    assert await pool.fetchval("SELECT count(*) FROM journal_entries WHERE reference = 'X1'") == 1
    rows = {r["order_id"]: (r["status"], r["cum_qty"]) for r in await pool.fetch(
        "SELECT order_id, status, cum_qty FROM orders ORDER BY order_id")}
    assert rows == {"O1": ("filled", 10), "O2": ("pending_new", 0)}
