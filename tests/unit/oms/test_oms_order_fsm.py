# mypy: disable-error-code="comparison-overlap"
"""The order state machine: FIX 4.4 Appendix D moves, quantity consistency, and invariants under any
sequence of events (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.oms.model import (
    AccountID,
    ClOrdID,
    ExecID,
    ExecType,
    OrderID,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
)
from gateway.oms.order_events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    OrderReplaceRejected,
    OrderReplaceRequested,
    exec_type_for,
)
from gateway.oms.order_fsm import TRANSITIONS, InvalidOrder, InvalidTransition, Order, Trigger, apply, submit

D = Decimal


def new_order(qty: str = "100", price: str | None = "10", ord_type: OrdType = OrdType.LIMIT) -> Order:
    return submit(
        order_id=OrderID("O1"), cl_ord_id=ClOrdID("C1"), account_id=AccountID("A1"), symbol="AAPL",
        side=Side.BUY, ord_type=ord_type, time_in_force=TimeInForce.DAY, qty=D(qty),
        price=D(price) if price is not None else None,
    )


def fill(qty: str, px: str, exec_id: str = "E") -> OrderFilled:
    return OrderFilled(ExecID(exec_id), D(qty), D(px))


def run(order: Order, *events: OrderEvent) -> Order:
    for event in events:
        order = apply(order, event)
    return order


def test_submitted_order_is_pending_new_with_everything_leaves() -> None:
    order = new_order()
    assert (order.status, order.cum_qty, order.leaves_qty, order.avg_px) == (OrdStatus.PENDING_NEW, 0, 100, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"qty": "0"}, "qty"),
        ({"qty": "-5"}, "qty"),
        ({"price": None}, "price"),
        ({"price": "0"}, "price"),
    ],
)
def test_submit_refuses_nonsense(kwargs: dict[str, str | None], message: str) -> None:
    with pytest.raises(InvalidOrder, match=message):
        new_order(**kwargs)  # type: ignore[arg-type]


def test_market_order_takes_no_limit_price() -> None:
    with pytest.raises(InvalidOrder, match="no limit price"):
        new_order(ord_type=OrdType.MARKET, price="10")
    assert new_order(ord_type=OrdType.MARKET, price=None).price is None


def test_partial_then_full_fill_keeps_quantities_and_average_price() -> None:
    order = run(new_order(), OrderAccepted("V1"), fill("30", "10.00"))
    assert (order.status, order.cum_qty, order.leaves_qty) == (OrdStatus.PARTIALLY_FILLED, 30, 70)
    assert order.venue_order_id == "V1"
    order = apply(order, fill("70", "11.00"))
    assert (order.status, order.cum_qty, order.leaves_qty) == (OrdStatus.FILLED, 100, 0)
    assert order.avg_px == D("10.70")  # (30×10 + 70×11) / 100
    assert (order.last_qty, order.last_px) == (70, 11)


def test_overfill_is_refused() -> None:
    order = run(new_order(), OrderAccepted(), fill("60", "10"))
    with pytest.raises(InvalidTransition, match="exceeds leaves quantity 40"):
        apply(order, fill("41", "10"))


def test_fill_before_ack_is_allowed_like_real_venues() -> None:
    order = apply(new_order(), fill("100", "10"))
    assert order.status is OrdStatus.FILLED


def test_rejected_order_has_no_leaves_and_keeps_reason() -> None:
    order = apply(new_order(), OrderRejected(OrdRejReason.EXCHANGE_CLOSED, "market closed"))
    assert (order.status, order.leaves_qty) == (OrdStatus.REJECTED, 0)
    assert order.reject_reason is OrdRejReason.EXCHANGE_CLOSED


def test_cancel_flow_reports_cancel_cl_ord_id() -> None:
    order = run(new_order(), OrderAccepted(), fill("10", "10"), OrderCancelRequested(ClOrdID("C2")))
    assert order.status is OrdStatus.PENDING_CANCEL
    order = apply(order, fill("5", "10"))  # pending cancel outranks partially filled
    assert (order.status, order.cum_qty, order.leaves_qty) == (OrdStatus.PENDING_CANCEL, 15, 85)
    order = apply(order, OrderCanceled())
    assert (order.status, order.leaves_qty, order.cum_qty) == (OrdStatus.CANCELED, 0, 15)
    assert (order.cl_ord_id, order.orig_cl_ord_id) == ("C2", "C1")


def test_cancel_rejected_returns_to_working_status() -> None:
    order = run(new_order(), OrderAccepted(), OrderCancelRequested(ClOrdID("C2")), OrderCancelRejected())
    assert order.status is OrdStatus.NEW and order.pending is None
    order = run(order, fill("1", "10"), OrderCancelRequested(ClOrdID("C3")), OrderCancelRejected())
    assert order.status is OrdStatus.PARTIALLY_FILLED


def test_fill_racing_cancel_then_late_cancel_reject_is_absorbed() -> None:
    order = run(new_order(), OrderAccepted(), OrderCancelRequested(ClOrdID("C2")), fill("100", "10"))
    assert order.status is OrdStatus.FILLED
    assert apply(order, OrderCancelRejected("too late")) == order


def test_second_request_while_pending_is_refused() -> None:
    order = run(new_order(), OrderAccepted(), OrderCancelRequested(ClOrdID("C2")))
    with pytest.raises(InvalidTransition, match="replace_requested is not allowed in status pending_cancel"):
        apply(order, OrderReplaceRequested(ClOrdID("C3"), D(50), D(10)))
    with pytest.raises(InvalidTransition):
        apply(order, OrderCancelRequested(ClOrdID("C3")))


def test_cancel_before_ack_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        apply(new_order(), OrderCancelRequested(ClOrdID("C2")))


def test_replace_changes_qty_price_and_ids() -> None:
    order = run(new_order(), OrderAccepted(), fill("30", "10"), OrderReplaceRequested(ClOrdID("C2"), D(50), D(9)))
    assert order.status is OrdStatus.PENDING_REPLACE and order.qty == 100
    order = apply(order, OrderReplaced(ClOrdID("C2"), D(50), D(9)))
    assert (order.status, order.qty, order.price, order.leaves_qty) == (OrdStatus.PARTIALLY_FILLED, 50, 9, 20)
    assert (order.cl_ord_id, order.orig_cl_ord_id) == ("C2", "C1")


def test_replace_down_to_executed_quantity_fills_the_order() -> None:
    order = run(new_order(), OrderAccepted(), fill("30", "10"), OrderReplaceRequested(ClOrdID("C2"), D(40), D(10)),
                fill("15", "10"))
    order = apply(order, OrderReplaced(ClOrdID("C2"), D(40), D(10)))
    assert (order.status, order.qty, order.cum_qty, order.leaves_qty) == (OrdStatus.FILLED, 45, 45, 0)


def test_replace_below_executed_quantity_is_refused() -> None:
    order = run(new_order(), OrderAccepted(), fill("30", "10"))
    with pytest.raises(InvalidTransition, match="below the executed quantity 30"):
        apply(order, OrderReplaceRequested(ClOrdID("C2"), D(20), D(10)))


def test_replace_rejected_keeps_original_terms() -> None:
    order = run(new_order(), OrderAccepted(), OrderReplaceRequested(ClOrdID("C2"), D(50), D(9)),
                OrderReplaceRejected())
    assert (order.status, order.qty, order.price, order.cl_ord_id) == (OrdStatus.NEW, 100, 10, "C1")


@pytest.mark.parametrize("status", [s for s in OrdStatus if s.is_terminal])
def test_terminal_states_refuse_fills_and_new_requests(status: OrdStatus) -> None:
    order = new_order()
    terminal = {
        OrdStatus.FILLED: lambda: apply(order, fill("100", "10")),
        OrdStatus.CANCELED: lambda: apply(order, OrderCanceled()),
        OrdStatus.REJECTED: lambda: apply(order, OrderRejected(OrdRejReason.OTHER, "x")),
        OrdStatus.EXPIRED: lambda: apply(order, OrderExpired()),
    }[status]()
    for event in (fill("1", "10"), OrderAccepted(), OrderCanceled(), OrderExpired(),
                  OrderCancelRequested(ClOrdID("X")), OrderReplaceRequested(ClOrdID("X"), D(1), D(1))):
        with pytest.raises(InvalidTransition):
            apply(terminal, event)


def test_table_never_leaves_a_terminal_status() -> None:
    for (status, _trigger), target in TRANSITIONS.items():
        if status.is_terminal:
            assert target is status


def test_exec_types() -> None:
    assert exec_type_for(fill("1", "1")) is ExecType.TRADE
    assert exec_type_for(OrderReplaced(ClOrdID("C"), D(1), D(1))) is ExecType.REPLACED
    assert exec_type_for(OrderCancelRejected()) is None
    assert {t.value for t in Trigger} >= {"accepted", "filled", "replaced", "expired"}


# --- invariants under arbitrary event sequences --------------------------------------------------

prices = st.decimals(min_value=D("0.01"), max_value=D("1000"), places=2)
quantities = st.integers(min_value=1, max_value=300).map(D)
cl_ids = st.sampled_from([ClOrdID(f"C{i}") for i in range(2, 6)])

events: st.SearchStrategy[OrderEvent] = st.one_of(
    st.just(OrderAccepted("V")),
    st.builds(OrderRejected, st.just(OrdRejReason.OTHER), st.just("venue said no")),
    st.builds(OrderFilled, st.just(ExecID("E")), quantities, prices),
    st.builds(OrderCancelRequested, cl_ids),
    st.just(OrderCanceled()),
    st.just(OrderCancelRejected()),
    st.builds(OrderReplaceRequested, cl_ids, quantities, prices),
    st.builds(OrderReplaced, cl_ids, quantities, prices),
    st.just(OrderReplaceRejected()),
    st.just(OrderExpired()),
)


@settings(max_examples=200, deadline=None)
@given(qty=quantities, sequence=st.lists(events, max_size=25))
def test_any_event_sequence_keeps_quantities_consistent(qty: Decimal, sequence: list[OrderEvent]) -> None:
    order = new_order(qty=str(qty))
    fill_prices: list[Decimal] = []
    for event in sequence:
        before = order
        try:
            order = apply(order, event)
        except InvalidTransition:
            assert order == before
            continue
        if before.is_terminal:
            assert order == before  # terminal states absorb
        if isinstance(event, OrderFilled):
            fill_prices.append(event.last_px)
        assert 0 <= order.cum_qty <= order.qty
        if order.is_terminal:
            assert order.leaves_qty == 0
        else:
            assert order.cum_qty + order.leaves_qty == order.qty
        if fill_prices:
            assert min(fill_prices) <= order.avg_px <= max(fill_prices)
            assert order.cum_qty > 0
        else:
            assert order.avg_px == 0 and order.cum_qty == 0
        assert (order.pending is not None) == (order.status in (OrdStatus.PENDING_CANCEL, OrdStatus.PENDING_REPLACE))
