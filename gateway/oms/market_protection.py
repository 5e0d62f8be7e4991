"""Market-order protection (pure), as real brokers apply it: a market buy goes to the exchange as an IOC
(or FOK) limit order at the price its reservation was computed with (the collar over the ask), rounded
down to the tick, so no fill can cost more than the cash blocked for it and nothing rests on the book.

A stop buy gets the same protection (ADR 012): it goes as a stop-limit with its stop price and a limit at
its reservation's collar price (``max(ask, stop) × (1 + collar)``, see ``risk.valuation_price``), so a gap
beyond the block leaves it waiting as a limit instead of becoming a fill the ledger cannot book.

The price comes from the reservation itself (blocked cash / leaves), so an order re-routed after a restart
is protected at the same price without the quote it was checked against.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from gateway.oms.model import OrdType, Side
from gateway.oms.order_fsm import Order
from ledger.reservations import OrderReservation
from refdata.instruments import tick_size_for

__all__ = ["protection_price"]


def protection_price(order: Order, reservation: OrderReservation) -> Decimal | None:
    """The limit to route a market or stop buy at; None for anything else (limits carry their own price,
    sells bring cash in) or when nothing is blocked to derive it from."""
    if order.ord_type not in (OrdType.MARKET, OrdType.STOP, OrdType.PEGGED) or order.side is not Side.BUY:
        return None
    cash, leaves = reservation.confirmed_cash, reservation.leaves_qty
    if cash <= 0 or leaves <= 0:
        return None
    per_share = cash / leaves
    tick = tick_size_for(per_share)
    price = (per_share / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
    return price if price > 0 else None
