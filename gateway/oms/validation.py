"""Static validation of a new order or a replace against the instrument (pure), before risk.

Symbol known; quantity a positive multiple of the lot size with at most the ledger's 4 decimals; limit and
stop prices on the instrument's tick (Reg NMS: $0.01 from $1, $0.0001 below); market orders only DAY, IOC
or FOK (a market order resting overnight is never what the client meant).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from gateway.oms.model import OrdType, TimeInForce
from gateway.oms.order_fsm import Order
from gateway.oms.risk_config import Rejected, RiskRule
from ledger.money import QTY_QUANTUM
from refdata.instruments import Instrument

__all__ = ["validate_order", "validate_terms"]


def _on_step(value: Decimal, step: Decimal) -> bool:
    try:
        return step > 0 and value % step == 0
    except InvalidOperation:  # absurdly large against the step: certainly not a valid figure
        return False


def validate_terms(instrument: Instrument, ord_type: OrdType, time_in_force: TimeInForce, qty: Decimal,
                   price: Decimal | None, stop_px: Decimal | None) -> Rejected | None:
    lot = Decimal(instrument.lot_size)
    if qty != qty.quantize(QTY_QUANTUM) or not _on_step(qty, lot):
        return Rejected(RiskRule.LOT_SIZE,
                        f"invalid quantity: {qty} is not a multiple of the lot size {lot} of {instrument.symbol}")
    stop_name = "trail distance" if ord_type.is_trailing_stop else "stop price"
    for name, value in (("price", price), (stop_name, stop_px)):
        if value is not None and not _on_step(value, instrument.tick_size):
            return Rejected(RiskRule.TICK_SIZE, f"invalid price: {name} {value} is not on the tick size "
                                                f"{instrument.tick_size} of {instrument.symbol}")
    if ord_type is OrdType.MARKET and time_in_force is TimeInForce.GTC:
        return Rejected(RiskRule.TIME_IN_FORCE, "unsupported time in force: market orders are DAY, IOC or FOK")
    return _order_type_terms(ord_type, time_in_force)


def _order_type_terms(ord_type: OrdType, time_in_force: TimeInForce) -> Rejected | None:
    """At the close (59=7) is market- or limit-on-close only; a trailing stop (40=P) works DAY or GTC."""
    if time_in_force is TimeInForce.AT_THE_CLOSE and ord_type not in (OrdType.MARKET, OrdType.LIMIT):
        return Rejected(RiskRule.TIME_IN_FORCE, "unsupported time in force: at the close (59=7) is for market- "
                                                "and limit-on-close orders (40=1 or 2) only")
    if ord_type.is_trailing_stop and time_in_force not in (TimeInForce.DAY, TimeInForce.GTC):
        return Rejected(RiskRule.TIME_IN_FORCE, "unsupported time in force: a trailing stop is DAY or GTC")
    return None


def validate_order(order: Order, instrument: Instrument | None) -> Rejected | None:
    """``instrument``: the universe's entry for the order's symbol, None when there is none."""
    if instrument is None:
        return Rejected(RiskRule.UNKNOWN_SYMBOL, f"unknown symbol: {order.symbol}")
    return validate_terms(instrument, order.ord_type, order.time_in_force, order.qty, order.price, order.stop_px)
