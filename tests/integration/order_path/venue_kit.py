"""What the tests of ``VenueReports`` on its own (no FIX, no exchange) share: a client link that records
what it would send, a cash account, a market buy of 10 AAPL recorded with its block at the collar, a fill."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from gateway.oms import fix_codec as codec
from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdType, Side, TimeInForce
from gateway.oms.order_fsm import submit
from gateway.oms.store import StoredOrder, insert_order
from ledger.reservations import OrderReservation

D = Decimal
NOTHING = D(0)
COLLAR_OVERSHOOT = D(110)  # above the 101 collar of the market buys below: the ledger refuses such a fill


class RecordingClients:
    """Stands in for ``ClientLink``: every client report the gateway would send, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[object, ...]] = []

    def send(self, *args: object) -> bool:
        self.sent.append(args)
        return True


async def cash_account(pool: asyncpg.Pool, amount: Decimal, blocked: Decimal = NOTHING, account: str = "A1") -> None:
    await pool.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ($1, 'cash', 'x')",
                       account)
    await pool.execute("INSERT INTO cash_balances (account_id, currency, account_type, amount, blocked) "
                       "VALUES ($1, 'USD', 'cash', $2, $3)", account, amount, blocked)


async def market_buy(pool: asyncpg.Pool, order_id: str, *, block: bool = True) -> None:
    """A market buy of 10 AAPL for A1, its 1,010 blocked at the collar (``block``: added to the cash row's
    blocked amount too)."""
    order = submit(order_id=OrderID(order_id), cl_ord_id=ClOrdID(f"C-{order_id}"), account_id=AccountID("A1"),
                   symbol="AAPL", side=Side.BUY, ord_type=OrdType.MARKET, time_in_force=TimeInForce.DAY, qty=D(10))
    if block:
        await pool.execute("UPDATE cash_balances SET blocked = blocked + 1010 WHERE account_id = 'A1'")
    async with pool.acquire() as conn:
        await insert_order(conn, StoredOrder(order, "CLIENT1", order.cl_ord_id, OrderReservation(D(10), D(1010))))


def fill(order_id: str, exec_id: str, last_px: Decimal = COLLAR_OVERSHOOT) -> codec.VenueReport:
    """The exchange's full fill of the order's 10 at ``last_px``."""
    return codec.VenueReport(order_id, "V1", exec_id, "F", "2", None, None, D(10), last_px, None, "")


def venue_new(order_id: str) -> codec.VenueReport:
    """The exchange's New (ack) of the order."""
    return codec.VenueReport(order_id, "V1", f"X-ack-{order_id}", "0", "0", None, None, D(0), D(0), None, "")
