"""Order types, time in force, stops, replace priority and cancels on the pure matching engine."""

from __future__ import annotations

from exchange.events import (
    BUY,
    SELL,
    CancelReason,
    CancelRejected,
    CancelRejectReason,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    OrdType,
    RejectReason,
    StopTriggered,
)
from exchange.events import TimeInForce as Tif
from exchange.matching import MatchingEngine

LIMIT, MARKET, STOP, STOP_LIMIT = OrdType.LIMIT, OrdType.MARKET, OrdType.STOP, OrdType.STOP_LIMIT


def fills(events: list[Event], order_id: int) -> list[tuple[int, int]]:
    return [(e.last_qty, e.last_px) for e in events if isinstance(e, OrderFilled) and e.order_id == order_id]


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_limit_orders_rest_and_cross_at_the_resting_price() -> None:
    engine = MatchingEngine()
    assert kinds(engine.submit(1, SELL, LIMIT, Tif.DAY, 100, 1010)) == ["OrderAccepted"]
    events = engine.submit(2, BUY, LIMIT, Tif.DAY, 150, 1012)
    assert fills(events, 2) == [(100, 1010)]
    assert engine.book.best_bid() == 1012 and engine.book.best_ask() is None
    assert engine.last_px == 1010 and engine.volume == 100
    engine.check_invariants()


def test_price_then_time_priority() -> None:
    engine = MatchingEngine()
    engine.submit(1, SELL, LIMIT, Tif.DAY, 100, 1002)
    engine.submit(2, SELL, LIMIT, Tif.DAY, 100, 1001)
    engine.submit(3, SELL, LIMIT, Tif.DAY, 100, 1001)
    events = engine.submit(4, BUY, MARKET, Tif.DAY, 250)
    passive = [(e.order_id, e.last_qty, e.last_px) for e in events if isinstance(e, OrderFilled) and not e.aggressor]
    assert passive == [(2, 100, 1001), (3, 100, 1001), (1, 50, 1002)]
    filled = [e for e in events if isinstance(e, OrderFilled) and e.order_id == 4]
    assert filled[-1].cum == 250 and filled[-1].leaves == 0 and filled[-1].cum_notional == 200 * 1001 + 50 * 1002


def test_market_order_in_an_empty_book_is_rejected_with_a_reason() -> None:
    events = MatchingEngine().submit(1, BUY, MARKET, Tif.DAY, 100)
    assert events == [OrderRejected(1, RejectReason.NO_LIQUIDITY)]
    assert RejectReason.NO_LIQUIDITY.code == 99 and "no liquidity" in RejectReason.NO_LIQUIDITY.text


def test_market_order_remainder_is_canceled_when_liquidity_runs_out() -> None:
    engine = MatchingEngine()
    engine.submit(1, BUY, LIMIT, Tif.DAY, 100, 990)
    events = engine.submit(2, SELL, MARKET, Tif.GTC, 300)
    assert fills(events, 2) == [(100, 990)]
    assert events[-1] == OrderCanceled(2, 200, 100, 99_000, CancelReason.NO_LIQUIDITY)
    assert not engine.book.orders


def test_ioc_fills_what_it_can_and_never_rests() -> None:
    engine = MatchingEngine()
    engine.submit(1, SELL, LIMIT, Tif.DAY, 100, 1000)
    events = engine.submit(2, BUY, LIMIT, Tif.IOC, 300, 1000)
    assert fills(events, 2) == [(100, 1000)]
    assert isinstance(events[-1], OrderCanceled) and events[-1].reason is CancelReason.IOC_REMAINDER
    assert events[-1].canceled_qty == 200 and 2 not in engine.book.orders


def test_fok_is_all_or_nothing() -> None:
    engine = MatchingEngine()
    engine.submit(1, SELL, LIMIT, Tif.DAY, 100, 1000)
    engine.submit(2, SELL, LIMIT, Tif.DAY, 100, 1005)
    killed = engine.submit(3, BUY, LIMIT, Tif.FOK, 200, 1004)
    assert kinds(killed) == ["OrderAccepted", "OrderCanceled"]
    assert killed[-1].reason is CancelReason.FOK_UNFILLABLE  # type: ignore[union-attr]
    assert engine.book.asks.depth(5) == [(1000, 100), (1005, 100)]
    done = engine.submit(4, BUY, LIMIT, Tif.FOK, 200, 1005)
    assert fills(done, 4) == [(100, 1000), (100, 1005)]


def test_partial_fills_leave_the_rest_on_the_book() -> None:
    engine = MatchingEngine()
    engine.submit(1, BUY, LIMIT, Tif.GTC, 500, 1000)
    engine.submit(2, SELL, LIMIT, Tif.DAY, 200, 1000)
    events = engine.submit(3, SELL, LIMIT, Tif.DAY, 100, 999)
    resting = [e for e in events if isinstance(e, OrderFilled) and e.order_id == 1]
    assert resting[0].cum == 300 and resting[0].leaves == 200
    assert engine.book.bids.depth(1) == [(1000, 200)]


def test_cancel_and_unknown_cancel() -> None:
    engine = MatchingEngine()
    engine.submit(1, BUY, LIMIT, Tif.DAY, 100, 1000)
    assert engine.cancel(1) == [OrderCanceled(1, 100, 0, 0, CancelReason.REQUESTED)]
    assert engine.book.best_bid() is None
    assert engine.cancel(1) == [CancelRejected(1, CancelRejectReason.UNKNOWN_ORDER, False)]
    assert engine.cancel(99) == [CancelRejected(99, CancelRejectReason.UNKNOWN_ORDER, False)]


def test_replace_quantity_down_keeps_priority() -> None:
    engine = MatchingEngine()
    engine.submit(1, SELL, LIMIT, Tif.DAY, 300, 1000)
    engine.submit(2, SELL, LIMIT, Tif.DAY, 100, 1000)
    replaced = engine.replace(1, 200, 1000)
    assert replaced == [OrderReplaced(1, 200, 1000, None, 200, 0, 0, True)]
    events = engine.submit(3, BUY, MARKET, Tif.DAY, 100)
    assert [e.order_id for e in events if isinstance(e, OrderFilled) and not e.aggressor] == [1]


def test_replace_quantity_up_or_price_change_loses_priority() -> None:
    engine = MatchingEngine()
    for oid in (1, 2, 3):
        engine.submit(oid, SELL, LIMIT, Tif.DAY, 100, 1000)
    assert engine.replace(1, 200, 1000)[0].kept_priority is False  # type: ignore[union-attr]
    engine.replace(2, 100, 1001)
    engine.replace(2, 100, 1000)  # back to the same price: still behind
    events = engine.submit(4, BUY, MARKET, Tif.DAY, 400)
    passive = [e.order_id for e in events if isinstance(e, OrderFilled) and not e.aggressor]
    assert passive == [3, 1, 2]


def test_replace_that_crosses_trades_and_replace_checks() -> None:
    engine = MatchingEngine()
    engine.submit(1, SELL, LIMIT, Tif.DAY, 100, 1005)
    engine.submit(2, BUY, LIMIT, Tif.DAY, 100, 1000)
    events = engine.replace(2, 100, 1005)
    assert fills(events, 2) == [(100, 1005)]
    engine.submit(3, BUY, LIMIT, Tif.DAY, 100, 1000)
    engine.submit(4, SELL, LIMIT, Tif.DAY, 40, 1000)
    too_small = engine.replace(3, 40, 1000)
    assert too_small == [CancelRejected(3, CancelRejectReason.INCORRECT_QUANTITY, True)]
    assert engine.replace(3, 100, None) == [CancelRejected(3, CancelRejectReason.INVALID_PRICE, True)]
    assert engine.replace(77, 100, 1000) == [CancelRejected(77, CancelRejectReason.UNKNOWN_ORDER, True)]
    engine.check_invariants()


def test_buy_stop_triggers_on_a_trade_at_or_above_the_stop() -> None:
    engine = MatchingEngine()
    engine.submit(1, SELL, LIMIT, Tif.DAY, 100, 1000)
    engine.submit(2, SELL, LIMIT, Tif.DAY, 100, 1010)
    assert kinds(engine.submit(3, BUY, STOP, Tif.DAY, 100, None, 1000)) == ["OrderAccepted"]
    assert 3 in engine.stops and engine.book.best_bid() is None
    events = engine.submit(4, BUY, LIMIT, Tif.DAY, 50, 1000)
    assert StopTriggered(3, 1000) in events
    assert fills(events, 3) == [(50, 1000), (50, 1010)]
    engine.check_invariants()


def test_sell_stop_limit_rests_after_triggering_during_a_sweep() -> None:
    engine = MatchingEngine()
    engine.submit(1, BUY, LIMIT, Tif.DAY, 100, 1000)
    engine.submit(2, BUY, LIMIT, Tif.DAY, 100, 990)
    engine.submit(3, SELL, STOP_LIMIT, Tif.GTC, 100, 995, 995)
    events = engine.submit(4, SELL, MARKET, Tif.DAY, 150)  # trades at 1000 then 990: low 990 <= 995
    assert StopTriggered(3, 990) in events
    assert 3 in engine.book.orders and engine.book.best_ask() == 995
    assert fills(events, 3) == []
    engine.check_invariants()


def test_stop_already_through_the_last_trade_triggers_on_arrival() -> None:
    engine = MatchingEngine()
    engine.submit(1, SELL, LIMIT, Tif.DAY, 200, 1000)
    engine.submit(2, BUY, LIMIT, Tif.DAY, 100, 1000)
    events = engine.submit(3, BUY, STOP, Tif.DAY, 100, None, 990)
    assert kinds(events)[:2] == ["OrderAccepted", "StopTriggered"]
    assert fills(events, 3) == [(100, 1000)]


def test_cancel_and_replace_a_parked_stop() -> None:
    engine = MatchingEngine()
    engine.submit(1, BUY, STOP, Tif.DAY, 100, None, 1010)
    assert engine.replace(1, 200, None, 1020)[0].kept_priority is False  # type: ignore[union-attr]
    assert engine.order(1).stop_px == 1020  # type: ignore[union-attr]
    assert engine.replace(1, 200, None, None) == [CancelRejected(1, CancelRejectReason.INVALID_PRICE, True)]
    assert engine.cancel(1) == [OrderCanceled(1, 200, 0, 0, CancelReason.REQUESTED)]
    engine.check_invariants()


def test_end_of_day_expires_day_orders_only() -> None:
    engine = MatchingEngine()
    engine.submit(1, BUY, LIMIT, Tif.DAY, 100, 1000)
    engine.submit(2, BUY, LIMIT, Tif.GTC, 100, 999)
    engine.submit(3, SELL, STOP, Tif.DAY, 100, None, 900)
    engine.submit(4, SELL, LIMIT, Tif.DAY, 30, 1000)
    assert engine.end_of_day() == [OrderExpired(1, 70, 30, 30_000), OrderExpired(3, 100, 0, 0)]
    assert set(engine.book.orders) == {2} and not engine.stops
    engine.check_invariants()


def test_validation_rejects() -> None:
    engine = MatchingEngine(lot_size=100)
    assert engine.submit(1, BUY, LIMIT, Tif.DAY, 0, 1000)[0].reason is RejectReason.INCORRECT_QUANTITY  # type: ignore[union-attr]
    assert engine.submit(2, BUY, LIMIT, Tif.DAY, 150, 1000)[0].reason is RejectReason.NOT_LOT_MULTIPLE  # type: ignore[union-attr]
    assert engine.submit(3, BUY, LIMIT, Tif.DAY, 100)[0].reason is RejectReason.MISSING_PRICE  # type: ignore[union-attr]
    assert engine.submit(4, BUY, LIMIT, Tif.DAY, 100, 0)[0].reason is RejectReason.NON_POSITIVE_PRICE  # type: ignore[union-attr]
    assert engine.submit(5, BUY, STOP, Tif.DAY, 100)[0].reason is RejectReason.MISSING_STOP_PRICE  # type: ignore[union-attr]
    assert engine.submit(6, 3, LIMIT, Tif.DAY, 100, 10)[0].reason is RejectReason.UNSUPPORTED_ORDER  # type: ignore[union-attr]
    assert engine.submit(7, BUY, LIMIT, 2, 100, 10)[0].reason is RejectReason.UNSUPPORTED_ORDER  # type: ignore[union-attr]
    assert isinstance(engine.submit(8, BUY, LIMIT, Tif.DAY, 100, 10)[0], OrderAccepted)
    assert engine.submit(8, BUY, LIMIT, Tif.DAY, 100, 10)[0].reason is RejectReason.DUPLICATE_ORDER  # type: ignore[union-attr]
    assert RejectReason.INVALID_PRICE_INCREMENT.code == 18 and RejectReason.UNKNOWN_SYMBOL.code == 1
