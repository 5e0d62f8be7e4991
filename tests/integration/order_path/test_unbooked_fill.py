"""A fill the ledger refuses is never dropped silently: the inbound mark stays pinned below it (the exchange
resends it after a restart; later duplicates are no-ops), and an ``order.fill_unbooked`` event says what
happened, in its own transaction."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import asyncpg

from gateway.oms import fix_codec as codec
from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdType, Side, TimeInForce
from gateway.oms.order_fsm import submit
from gateway.oms.risk_config import RiskLimits
from gateway.oms.store import StoredOrder, insert_order
from gateway.oms.venue import VenueReports
from ledger.reservations import OrderReservation
from tests.integration.order_path.venue_kit import RecordingClients

D = Decimal


async def test_a_refused_fill_pins_the_mark_and_is_reported(db_pool: asyncpg.Pool) -> None:
    pool = db_pool
    await pool.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ('A1', 'cash', 'x')")
    await pool.execute("INSERT INTO cash_balances (account_id, currency, account_type, amount, blocked) "
                       "VALUES ('A1', 'USD', 'cash', 1010, 1010)")
    # market buy 10 blocked at the collar 101 (all the cash); the exchange fills it at 110 (no protection)
    order = submit(order_id=OrderID("O1"), cl_ord_id=ClOrdID("C1"), account_id=AccountID("A1"), symbol="AAPL",
                   side=Side.BUY, ord_type=OrdType.MARKET, time_in_force=TimeInForce.DAY, qty=D(10))
    async with pool.acquire() as conn:
        await insert_order(conn, StoredOrder(order, "CLIENT1", order.cl_ord_id, OrderReservation(D(10), D(1010))))
    clients = RecordingClients()
    venue = VenueReports(pool, clients, RiskLimits(), lanes=2)  # type: ignore[arg-type]
    venue.accounts["O1"] = "A1"
    try:
        ack = codec.VenueReport("O1", "V1", "X-ack", "0", "0", None, None, D(0), D(0), None, "")
        fill = codec.VenueReport("O1", "V1", "X-fill", "F", "2", None, None, D(10), D(110), None, "")
        await venue._dispatch("O1", ack, 6)
        await venue._dispatch("O1", fill, 7)
        await asyncio.wait_for(venue.drain(), 10)
        assert venue.handled_mark == 6  # never past the fill that was not booked
        assert await pool.fetchval("SELECT count(*) FROM executions WHERE venue_exec_id = 'X-fill'") == 0
        rows = await pool.fetch("SELECT payload::text AS payload FROM outbox WHERE event_type = 'order.fill_unbooked'")
        assert len(rows) == 1
        payload = json.loads(rows[0]["payload"])
        assert payload["order_id"] == "O1" and payload["venue_exec_id"] == "X-fill"
        assert D(payload["last_qty"]) == 10 and D(payload["last_px"]) == 110 and payload["error"]
        # a later report is handled as usual, and the mark still waits below the fill
        await venue._dispatch("O1", codec.VenueReport("O1", "V1", "X-st", "I", "0", None, None, D(0), D(0), None,
                                                      ""), 8)
        await asyncio.wait_for(venue.drain(), 10)
        assert venue.handled_mark == 6
    finally:
        await venue.stop()
