"""The FIX messages the order path sends, as (tag, value) lists (pure: no quickfix, no I/O).

A client ExecutionReport always carries our OrderID (37), the client's ClOrdID (11, the pending request's
while a cancel/replace is pending, as FIX wants) and consistent CumQty (14) / LeavesQty (151) / AvgPx (6)
from the order after the event.
"""

from __future__ import annotations

from decimal import Decimal

from gateway.oms.admission import CancelRejected
from gateway.oms.fix_codec import Fields, field_list, transact_time
from gateway.oms.model import ExecType, OrdRejReason, OrdStatus, OrdType, Side, TimeInForce
from gateway.oms.order_fsm import Order
from ledger.money import quantize_price

__all__ = ["cancel_reject", "execution_report", "order_reject", "venue_cancel", "venue_new_order", "venue_replace",
           "venue_status"]

ZERO = Decimal(0)


def execution_report(order: Order, exec_id: str, exec_type: ExecType, *, last_qty: Decimal = ZERO,
                     last_px: Decimal = ZERO, text: str | None = None) -> Fields:
    """The client ExecutionReport's fields, as ``field_list`` would give them (None and "" left out, Decimals
    in wire form), built directly (ADR 030): the order's fixed part (Account to TimeInForce) is formatted once
    per order and reused while those fields stay the same (several reports per order)."""
    pending = order.pending
    cl_ord_id: str | None
    orig: str | None
    if pending is not None and exec_type in (ExecType.PENDING_CANCEL, ExecType.PENDING_REPLACE):
        cl_ord_id, orig = pending.cl_ord_id, order.cl_ord_id
    else:
        cl_ord_id, orig = order.cl_ord_id, order.orig_cl_ord_id
    out: Fields = [(37, order.order_id)] if order.order_id else []
    if cl_ord_id:
        out.append((11, cl_ord_id))
    if orig:
        out.append((41, orig))
    if exec_id:
        out.append((17, exec_id))
    status = order.status
    out += ((150, exec_type.code), (39, status.code))
    if order.reject_reason is not None and status is OrdStatus.REJECTED:
        out.append((103, order.reject_reason.code))
    out += _fixed_part(order)
    trade = exec_type is ExecType.TRADE
    out += ((32, _wire(last_qty) if trade else "0"), (31, _wire(last_px) if trade else "0"),  # field_list: ZERO is "0"
            (151, _wire(order.leaves_qty)), (14, _wire(order.cum_qty)), (6, _wire(quantize_price(order.avg_px))),
            (60, transact_time()))
    note = text if text is not None else order.text
    if note:
        out.append((58, note))
    if order.ord_type is OrdType.PEGGED:
        out += field_list(trailing_stop_fields(order))
    return out


def _wire(value: Decimal) -> str:
    return f"{value.normalize():f}"


_Fixed = tuple[str, str, Side, Decimal, OrdType, Decimal | None, Decimal | None, TimeInForce]
_FIXED: dict[str, tuple[_Fixed, Fields]] = {}  # order id -> (the fields it was made from, the formatted part)


def _fixed_part(order: Order) -> Fields:
    """Account (1) .. TimeInForce (59) of ``order``'s reports, formatted once while they stay the same (an
    order's reports share them; a replace changes qty/price, which the key sees)."""
    key: _Fixed = (order.account_id, order.symbol, order.side, order.qty, order.ord_type, order.price, order.stop_px,
                   order.time_in_force)
    cached = _FIXED.get(order.order_id)
    if cached is not None and cached[0] == key:
        return cached[1]
    part = field_list(((1, order.account_id), (55, order.symbol), (54, order.side.code), (38, order.qty),
                       (40, order.ord_type.code), (44, order.price),
                       (99, None if order.ord_type.is_trailing_stop else order.stop_px),
                       (59, order.time_in_force.code)))
    if len(_FIXED) >= 20_000:  # the orders of the last few seconds are the ones reported on
        _FIXED.clear()
    _FIXED[order.order_id] = (key, part)
    return part


def trailing_stop_fields(order: Order) -> list[tuple[int, object]]:
    """A trailing stop's ExecInst (18=a) and PegOffsetValue (211, signed: below the market for a sell)."""
    if not order.ord_type.is_trailing_stop or order.stop_px is None:
        return []
    return [(18, "a"), (211, order.stop_px if order.side is Side.BUY else -order.stop_px)]


def order_reject(*, cl_ord_id: str, exec_id: str, reason: OrdRejReason, text: str, account: str | None,
                 symbol: str | None, side: str | None, qty: Decimal | None, order_id: str = "NONE",
                 exec_type: ExecType = ExecType.REJECTED) -> Fields:
    """ExecutionReport 39=8 for an order that was never accepted (no order row)."""
    return field_list((
        (37, order_id), (11, cl_ord_id), (17, exec_id), (150, exec_type.value), (39, OrdStatus.REJECTED.value),
        (103, reason.value), (1, account), (55, symbol), (54, side), (38, qty), (151, ZERO), (14, ZERO),
        (6, ZERO), (60, transact_time()), (58, text),
    ))


def cancel_reject(rejected: CancelRejected, *, cl_ord_id: str, orig_cl_ord_id: str,
                  account: str | None = None) -> Fields:
    return field_list((
        (37, rejected.order_id), (11, cl_ord_id), (41, orig_cl_ord_id), (39, rejected.ord_status.value),
        (1, account), (434, rejected.response_to.value), (102, rejected.reason.value), (60, transact_time()),
        (58, rejected.text),
    ))


def _venue_side(side: Side) -> str:
    return "2" if side.is_sell else "1"  # the venue knows buy and sell; a short sale is a sell there


def venue_new_order(order: Order, protect_at: Decimal | None = None) -> Fields:
    """``protect_at``: market-order protection (``market_protection``): a market order goes as a limit at that
    price, IOC unless FOK, so it never rests, like the market order it is; a stop order goes as a stop-limit
    at that price with its own time in force (triggered beyond it, it waits as a limit instead of filling
    above what is blocked)."""
    ord_type, price, tif = order.ord_type.value, order.price, order.time_in_force
    if protect_at is not None and order.ord_type is OrdType.STOP:
        ord_type, price = OrdType.STOP_LIMIT.value, protect_at
    elif protect_at is not None and order.ord_type.is_trailing_stop:
        price = protect_at  # a trailing stop-limit at the exchange: triggered, it buys up to the block's price
    elif protect_at is not None:
        ord_type, price = OrdType.LIMIT.value, protect_at
        # a market-on-close becomes a limit-on-close at the collar; any other market order an IOC (or FOK)
        tif = tif if tif in (TimeInForce.IOC, TimeInForce.FOK, TimeInForce.AT_THE_CLOSE) else TimeInForce.IOC
    return field_list((
        (11, order.order_id), (1, order.account_id), (55, order.symbol), (54, _venue_side(order.side)),
        (38, order.qty), (40, ord_type), (44, price),
        (99, None if order.ord_type.is_trailing_stop else order.stop_px), (59, tif.value), (60, transact_time()),
        *trailing_stop_fields(order),
    ))


def venue_cancel(order: Order, venue_cl_ord_id: str, orig_venue_cl_ord_id: str) -> Fields:
    return field_list((
        (11, venue_cl_ord_id), (41, orig_venue_cl_ord_id), (37, order.venue_order_id), (1, order.account_id),
        (55, order.symbol), (54, _venue_side(order.side)), (38, order.qty), (60, transact_time()),
    ))


def venue_replace(order: Order, venue_cl_ord_id: str, orig_venue_cl_ord_id: str, qty: Decimal,
                  price: Decimal | None) -> Fields:
    return field_list((
        (11, venue_cl_ord_id), (41, orig_venue_cl_ord_id), (37, order.venue_order_id), (1, order.account_id),
        (55, order.symbol), (54, _venue_side(order.side)), (38, qty), (40, order.ord_type.value), (44, price),
        (99, order.stop_px), (59, order.time_in_force.value), (60, transact_time()),
    ))


def venue_status(order: Order, venue_cl_ord_id: str) -> Fields:
    return field_list(((11, venue_cl_ord_id), (55, order.symbol), (54, _venue_side(order.side))))
