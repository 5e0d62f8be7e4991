"""``reports.execution_report`` built directly (ADR 030) gives exactly the fields of the generic
``field_list`` spelling of the report, for every kind of order and report, before and after a replace."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.oms import reports
from gateway.oms.fix_codec import Fields, field_list, transact_time
from gateway.oms.model import ClOrdID, ExecType, OrdRejReason, OrdStatus, OrdType, Side, TimeInForce
from gateway.oms.order_events import (
    OrderAccepted,
    OrderCancelRequested,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    OrderReplaceRequested,
)
from gateway.oms.order_fsm import Order, apply, submit
from ledger.money import quantize_price

ZERO = Decimal(0)


def reference(order: Order, exec_id: str, exec_type: ExecType, *, last_qty: Decimal = ZERO,
              last_px: Decimal = ZERO, text: str | None = None) -> Fields:
    """The report as the generic field list (the spelling before ADR 030)."""
    pending = order.pending
    if pending is not None and exec_type in (ExecType.PENDING_CANCEL, ExecType.PENDING_REPLACE):
        cl_ord_id, orig = pending.cl_ord_id, order.cl_ord_id
    else:
        cl_ord_id, orig = order.cl_ord_id, order.orig_cl_ord_id
    trade = exec_type is ExecType.TRADE
    return field_list((
        (37, order.order_id), (11, cl_ord_id), (41, orig), (17, exec_id), (150, exec_type.value),
        (39, order.status.value), (103, order.reject_reason.value if order.reject_reason is not None
                                   and order.status is OrdStatus.REJECTED else None),
        (1, order.account_id), (55, order.symbol), (54, order.side.value), (38, order.qty),
        (40, order.ord_type.value), (44, order.price), (99, None if order.ord_type.is_trailing_stop else order.stop_px),
        (59, order.time_in_force.value),
        (32, last_qty if trade else ZERO), (31, last_px if trade else ZERO), (151, order.leaves_qty),
        (14, order.cum_qty), (6, quantize_price(order.avg_px)), (60, transact_time()),
        (58, text if text is not None else order.text), *reports.trailing_stop_fields(order),
    ))


def _same(order: Order, exec_type: ExecType, **kw: object) -> None:
    got = reports.execution_report(order, "E1", exec_type, **kw)  # type: ignore[arg-type]
    want = reference(order, "E1", exec_type, **kw)  # type: ignore[arg-type]
    strip = lambda fields: [(t, v) for t, v in fields if t != 60]  # noqa: E731  (the clock moves)
    assert strip(got) == strip(want)
    assert [t for t, _ in got] == [t for t, _ in want]


def _order(ord_type: OrdType = OrdType.LIMIT, side: Side = Side.BUY, price: Decimal | None = Decimal("190.10"),
           stop_px: Decimal | None = None, order_id: str = "O1") -> Order:
    return submit(order_id=order_id, cl_ord_id=ClOrdID("C1"), account_id="ACC1", symbol="AAPL",  # type: ignore[arg-type]
                  side=side, ord_type=ord_type, time_in_force=TimeInForce.DAY, qty=Decimal("10.0"), price=price,
                  stop_px=stop_px)


@pytest.mark.parametrize("order", [
    _order(),
    _order(OrdType.MARKET, price=None, order_id="O2"),
    _order(OrdType.STOP_LIMIT, Side.SELL, stop_px=Decimal("189.5"), order_id="O3"),
    _order(OrdType.PEGGED, Side.SELL_SHORT, price=None, stop_px=Decimal("0.50"), order_id="O4"),
    _order(OrdType.PEGGED, Side.BUY, price=None, stop_px=Decimal("1.25"), order_id="O5"),
])
def test_report_fields_through_a_lifecycle(order: Order) -> None:
    _same(order, ExecType.PENDING_NEW)
    acked = apply(order, OrderAccepted("V1"))
    _same(acked, ExecType.NEW)
    partly = apply(acked, OrderFilled("X1", Decimal("4"), Decimal("190.05")))  # type: ignore[arg-type]
    _same(partly, ExecType.TRADE, last_qty=Decimal("4"), last_px=Decimal("190.05"))
    _same(partly, ExecType.ORDER_STATUS, text="status")
    canceling = apply(partly, OrderCancelRequested(ClOrdID("C2")))
    _same(canceling, ExecType.PENDING_CANCEL)
    replacing = apply(partly, OrderReplaceRequested(ClOrdID("C3"), Decimal("20"), order.price))
    _same(replacing, ExecType.PENDING_REPLACE)
    replaced = apply(replacing, OrderReplaced(ClOrdID("C3"), Decimal("20"), order.price))
    _same(replaced, ExecType.REPLACED)  # qty changed: the order's fixed part is formatted again
    _same(partly, ExecType.TRADE, last_qty=Decimal("4"), last_px=Decimal("190.05"))  # and back
    rejected = apply(order, OrderRejected(OrdRejReason.UNKNOWN_SYMBOL, "no such symbol"))
    _same(rejected, ExecType.REJECTED)
    _same(rejected, ExecType.REJECTED, text="")
