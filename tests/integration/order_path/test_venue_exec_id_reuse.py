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

from gateway.oms import fix_codec as codec
from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdType, Side, TimeInForce
from gateway.oms.order_fsm import submit
from gateway.oms.risk_config import RiskLimits
from gateway.oms.store import StoredOrder, insert_order
from gateway.oms.venue import VenueReports
from ledger.reservations import OrderReservation

D = Decimal


class _Clients:
    def __init__(self) -> None:
        self.sent: list[tuple[object, ...]] = []

    def send(self, *args: object) -> bool:
        self.sent.append(args)
        return True


async def _market_buy(pool: asyncpg.Pool, order_id: str) -> None:
    order = submit(order_id=OrderID(order_id), cl_ord_id=ClOrdID(f"C-{order_id}"), account_id=AccountID("A1"),
                   symbol="AAPL", side=Side.BUY, ord_type=OrdType.MARKET, time_in_force=TimeInForce.DAY, qty=D(10))
    await pool.execute("UPDATE cash_balances SET blocked = blocked + 1010 WHERE account_id = 'A1'")
    async with pool.acquire() as conn:
        await insert_order(conn, StoredOrder(order, "CLIENT1", order.cl_ord_id, OrderReservation(D(10), D(1010))))


def _fill(order_id: str, exec_id: str) -> codec.VenueReport:
    return codec.VenueReport(order_id, "V1", exec_id, "F", "2", None, None, D(10), D(100), None, "")


def _reused() -> float:
    return REGISTRY.get_sample_value("brokerage_venue_exec_id_reused_total") or 0.0


async def test_an_exec_id_reused_for_another_order_is_flagged_not_applied(db_pool: asyncpg.Pool) -> None:
    pool = db_pool
    await pool.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ('A1', 'cash', 'x')")
    await pool.execute("INSERT INTO cash_balances (account_id, currency, account_type, amount, blocked) "
                       "VALUES ('A1', 'USD', 'cash', 5000, 0)")
    await _market_buy(pool, "O1")
    await _market_buy(pool, "O2")
    venue = VenueReports(pool, _Clients(), RiskLimits(), lanes=2)  # type: ignore[arg-type]
    venue.accounts.update({"O1": "A1", "O2": "A1"})
    before = _reused()
    try:
        with structlog.testing.capture_logs() as logs:
            # X1 fills O1; the exchange resends it (a no-op); then reports X1 again, for O2
            for seq, item in enumerate([_fill("O1", "X1"), _fill("O1", "X1"), _fill("O2", "X1")], start=1):
                await venue._dispatch("O1", item, seq)
            await asyncio.wait_for(venue.drain(), 10)
            assert _reused() == before + 1
            # the same, once X1's report is committed (found in the executions table, not in the batch)
            await venue._dispatch("O1", _fill("O2", "X1"), 4)
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
