"""Fills while a replace that grows the order is pending, then the exchange refuses the replace: the order
keeps exactly its exposure blocked (leaves × limit), never less.

Buy 100 @ 10 (1000 blocked); replace to 200 (+1000 blocked ahead); 50 @ 10 fill; the replace is refused:
500 stays blocked for the 50 still working (before the fix: the fill released 1000 and the reject another
1000, leaving nothing held while 50 shares still worked)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg

from gateway.oms import fix_codec as codec
from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdType, Side, TimeInForce
from gateway.oms.order_events import OrderAccepted, OrderReplaceRequested
from gateway.oms.order_fsm import apply, submit
from gateway.oms.risk_config import RiskLimits
from gateway.oms.store import StoredOrder, insert_order
from gateway.oms.venue import VenueReports
from ledger.reservations import OrderReservation
from tests.integration.order_path.venue_kit import RecordingClients

D = Decimal


async def test_fill_during_a_pending_replace_then_its_reject_keeps_the_exposure_blocked(
        db_pool: asyncpg.Pool) -> None:
    pool = db_pool
    await pool.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ('A1', 'cash', 'x')")
    await pool.execute("INSERT INTO cash_balances (account_id, currency, account_type, amount, blocked) "
                       "VALUES ('A1', 'USD', 'cash', 2000, 2000)")
    order = submit(order_id=OrderID("O1"), cl_ord_id=ClOrdID("C1"), account_id=AccountID("A1"), symbol="AAPL",
                   side=Side.BUY, ord_type=OrdType.LIMIT, time_in_force=TimeInForce.DAY, qty=D(100), price=D(10))
    order = apply(apply(order, OrderAccepted("V1")), OrderReplaceRequested(ClOrdID("C2"), D(200), D(10)))
    held = OrderReservation.for_buy(D(100), D(10)).with_pending(D(1000))
    stored = StoredOrder(order, "CLIENT1", order.cl_ord_id, held, pending_extra_cash=D(1000), venue_requests=1)
    async with pool.acquire() as conn:
        await insert_order(conn, stored)
    venue = VenueReports(pool, RecordingClients(), RiskLimits(), lanes=1)  # type: ignore[arg-type]
    venue.accounts["O1"] = "A1"
    try:
        fill = codec.VenueReport("O1", "V1", "X-fill", "F", "1", None, None, D(50), D(10), None, "")
        assert await venue.apply_batch([("A1", fill)]) == 1
        refused = codec.VenueCancelReject(stored.venue_cl_ord_id, "2", 0, "too late")
        assert await venue.apply_batch([("A1", refused)]) == 1
        row = await pool.fetchrow("SELECT status, leaves_qty, reserved_cash, pending_extra_cash FROM orders "
                                  "WHERE order_id = 'O1'")
        assert (row["status"], row["leaves_qty"]) == ("partially_filled", 50)
        assert (row["reserved_cash"], row["pending_extra_cash"]) == (500, 0)
        cash = await pool.fetchrow("SELECT amount, blocked FROM cash_balances WHERE account_id = 'A1'")
        assert (cash["amount"], cash["blocked"]) == (1500, 500)
    finally:
        await asyncio.wait_for(venue.stop(), 5)
