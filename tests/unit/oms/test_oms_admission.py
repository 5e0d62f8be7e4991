"""Admission: duplicate ClOrdID, PossResend, cancel/replace of unknown, finished or busy orders; kill switches."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from gateway.oms.admission import (
    CancelRejected,
    DuplicateOrder,
    Proceed,
    ReportStatus,
    admit_cancel,
    admit_new_order,
    admit_replace,
)
from gateway.oms.kill_switch import KillSwitches, engage, orders_to_cancel, release
from gateway.oms.model import (
    AccountID,
    ClOrdID,
    CxlRejReason,
    CxlRejResponseTo,
    OrderID,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
)
from gateway.oms.order_events import OrderAccepted, OrderCanceled, OrderCancelRequested, OrderFilled
from gateway.oms.order_fsm import Order, apply, submit

D = Decimal
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def order(order_id: str = "O1", account: str = "A1", ord_type: OrdType = OrdType.LIMIT) -> Order:
    return submit(order_id=OrderID(order_id), cl_ord_id=ClOrdID("C1"), account_id=AccountID(account),
                  symbol="AAPL", side=Side.BUY, ord_type=ord_type, time_in_force=TimeInForce.DAY, qty=D(100),
                  price=D(10) if ord_type is OrdType.LIMIT else None)


def live(order_id: str = "O1", account: str = "A1", ord_type: OrdType = OrdType.LIMIT) -> Order:
    return apply(order(order_id, account, ord_type), OrderAccepted())


C1, C2 = ClOrdID("C1"), ClOrdID("C2")


def test_new_clordid_proceeds() -> None:
    assert admit_new_order(C1, None) == Proceed()


def test_duplicate_clordid_is_rejected_with_103_6() -> None:
    answer = admit_new_order(C1, live())
    assert isinstance(answer, DuplicateOrder) and answer.reason is OrdRejReason.DUPLICATE_ORDER
    assert answer.reason.value == 6
    assert answer.text == "duplicate ClOrdID C1: already used by order O1 (new)"


def test_poss_resend_of_a_known_order_reports_its_status_never_a_second_order() -> None:
    existing = apply(live(), OrderFilled("E1", D(40), D(10)))  # type: ignore[arg-type]
    assert admit_new_order(C1, existing, poss_resend=True) == ReportStatus(existing)
    assert admit_new_order(C1, None, poss_resend=True) == Proceed()  # never seen: a first delivery


def test_cancel_of_unknown_order() -> None:
    answer = admit_cancel(None, C1, C2)
    assert answer == CancelRejected(CxlRejReason.UNKNOWN_ORDER, CxlRejResponseTo.ORDER_CANCEL_REQUEST,
                                    OrdStatus.REJECTED, "NONE", "unknown order: no order with ClOrdID C1")


def test_cancel_of_finished_order_is_too_late() -> None:
    canceled = apply(apply(live(), OrderCancelRequested(C2)), OrderCanceled())
    answer = admit_cancel(canceled, C1, ClOrdID("C3"))
    assert isinstance(answer, CancelRejected)
    assert (answer.reason, answer.ord_status, answer.order_id) == (CxlRejReason.TOO_LATE_TO_CANCEL,
                                                                   OrdStatus.CANCELED, "O1")


def test_cancel_while_pending_or_before_ack() -> None:
    pending = apply(live(), OrderCancelRequested(C2))
    for busy in (pending, order()):
        answer = admit_cancel(busy, C1, ClOrdID("C3"))
        assert isinstance(answer, CancelRejected) and answer.reason is CxlRejReason.ORDER_ALREADY_IN_PENDING_STATUS


def test_cancel_with_a_used_clordid() -> None:
    answer = admit_cancel(live(), C1, C1, cl_ord_id_in_use=True)
    assert isinstance(answer, CancelRejected) and answer.reason is CxlRejReason.DUPLICATE_CL_ORD_ID
    assert admit_cancel(live(), C1, C2, cl_ord_id_in_use=True, poss_resend=True) == ReportStatus(live())
    assert admit_cancel(live(), C1, C2) == Proceed()


def test_replace_rules() -> None:
    working = apply(live(), OrderFilled("E1", D(40), D(10)))  # type: ignore[arg-type]
    assert admit_replace(working, C1, C2, qty=D(50), price=D(11)) == Proceed()

    def text(**kw: object) -> str:
        answer = admit_replace(working, C1, C2, **kw)  # type: ignore[arg-type]
        assert isinstance(answer, CancelRejected) and answer.reason is CxlRejReason.OTHER
        assert answer.response_to is CxlRejResponseTo.ORDER_CANCEL_REPLACE_REQUEST
        assert answer.ord_status is OrdStatus.PARTIALLY_FILLED
        return answer.text

    assert text(qty=D(39), price=D(10)) == "new quantity 39 is below the executed quantity 40"
    assert "needs a positive price" in text(qty=D(50), price=None)
    assert "side or the symbol" in text(qty=D(50), price=D(10), side=Side.SELL)
    assert "side or the symbol" in text(qty=D(50), price=D(10), symbol="MSFT")
    assert "invalid quantity" in text(qty=D("NaN"), price=D(10))
    market = live(ord_type=OrdType.MARKET)
    answer = admit_replace(market, C1, C2, qty=D(50), price=D(10))
    assert isinstance(answer, CancelRejected) and "takes no price" in answer.text
    unknown = admit_replace(None, C1, C2, qty=D(1), price=D(1))
    assert isinstance(unknown, CancelRejected) and unknown.reason is CxlRejReason.UNKNOWN_ORDER


def test_kill_switches_engage_release_and_pick_orders_to_cancel() -> None:
    a1, a2 = AccountID("A1"), AccountID("A2")
    switches, event = engage(KillSwitches(), NOW, a1, "runaway algo")
    assert event is not None and event.account == a1 and switches.killed(a1) == (True, False)
    assert engage(switches, NOW, a1) == (switches, None)  # already engaged: no second event
    orders = [live(order_id="O1", account="A1"), live(order_id="O2", account="A2"), order(order_id="O3"),
              apply(live(order_id="O4"), OrderCancelRequested(C2))]
    assert [o.order_id for o in orders_to_cancel(switches, orders)] == ["O1"]
    everywhere, event = engage(switches, NOW)
    assert event is not None and event.account is None
    assert [o.order_id for o in orders_to_cancel(everywhere, orders)] == ["O1", "O2"]
    released, freed = release(everywhere, NOW)
    assert freed is not None and not released.global_engaged and released.killed(a2) == (False, False)
    released, freed = release(released, NOW, a1)
    assert freed is not None and released == KillSwitches()
    assert release(released, NOW, a1) == (released, None)


def test_replace_is_checked_against_the_instrument_lot_tick_and_4_decimals() -> None:
    from refdata.instruments import Instrument

    aapl = Instrument("AAPL", "Apple Inc.", "NASDAQ", "Technology", "USD", D("100"), D("0.01"), 1, D(10**12))
    round_lot = Instrument("AAPL", "Apple Inc.", "NASDAQ", "Technology", "USD", D("100"), D("0.01"), 100,
                           D(10**12))
    working = live()
    assert admit_replace(working, C1, C2, qty=D(150), price=D("10.25"), instrument=aapl) == Proceed()

    def text(instrument: Instrument, **kw: object) -> str:
        answer = admit_replace(working, C1, C2, instrument=instrument, **kw)  # type: ignore[arg-type]
        assert isinstance(answer, CancelRejected) and answer.reason is CxlRejReason.OTHER
        assert answer.response_to is CxlRejResponseTo.ORDER_CANCEL_REPLACE_REQUEST
        assert answer.ord_status is OrdStatus.NEW and answer.order_id == "O1"
        return answer.text

    assert text(aapl, qty=D("100.00005"), price=D(10)).startswith("invalid quantity: 100.00005")
    assert text(aapl, qty=D(100), price=D("10.005")).startswith("invalid price: price 10.005 is not on the tick")
    assert "lot size 100" in text(round_lot, qty=D(150), price=D(10))
    assert "tick" in text(aapl, qty=D(100), price=D("1E+40"))
    market = live(ord_type=OrdType.MARKET)
    assert admit_replace(market, C1, C2, qty=D(150), price=None, instrument=aapl) == Proceed()
    answer = admit_replace(market, C1, C2, qty=D("1.5"), price=None, instrument=aapl)
    assert isinstance(answer, CancelRejected) and "lot size" in answer.text
