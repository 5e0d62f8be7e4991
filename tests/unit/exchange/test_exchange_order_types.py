"""Trailing stops, the closing auction (market- and limit-on-close) and self-trade prevention in the engine."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.auction import executable, uncross
from exchange.events import (
    BUY,
    SELL,
    CancelReason,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    OrdType,
    RejectReason,
    SelfTradePrevention,
    StopTriggered,
    TimeInForce,
)
from exchange.matching import MatchingEngine

DAY, GTC, CLOSE = TimeInForce.DAY, TimeInForce.GTC, TimeInForce.AT_THE_CLOSE
LIMIT, MARKET, TRAILING = OrdType.LIMIT, OrdType.MARKET, OrdType.TRAILING_STOP
NEWEST, OLDEST, BOTH = (SelfTradePrevention.CANCEL_NEWEST, SelfTradePrevention.CANCEL_OLDEST,
                        SelfTradePrevention.CANCEL_BOTH)


def fills(events: list[Event], order_id: int) -> list[tuple[int, int]]:
    return [(e.last_qty, e.last_px) for e in events if isinstance(e, OrderFilled) and e.order_id == order_id]


# The uncross on hand-computed books ------------------------------------------------------------------

def test_uncross_picks_the_price_of_maximum_volume() -> None:
    # buys: 100@102, 200@101, 300@100; sells: 150@99, 250@100, 300@101
    # at 99: buy 600 / sell 150 -> 150; at 100: 600 / 400 -> 400; at 101: 300 / 700 -> 300; 102: 100 / 700 -> 100
    result = uncross([(102, 100), (101, 200), (100, 300)], [(99, 150), (100, 250), (101, 300)], 105)
    assert result is not None
    assert (result.price, result.volume, result.buy_volume, result.sell_volume) == (100, 400, 600, 400)


def test_uncross_ties_on_volume_break_on_imbalance() -> None:
    # buys 300@101, sells 100@100 and 200@101 plus a market sell 100
    # at 100: buy 300 / sell 200 -> 200 (imbalance 100); at 101: 300 / 400 -> 300: max volume 101
    assert uncross([(101, 300)], [(100, 100), (101, 200), (None, 100)], None).price == 101  # type: ignore[union-attr]
    # buys 200@101 + 100@99, sells 200@99: at 99 buy 300 / sell 200 -> 200 (imb 100); at 101: 200/200 (imb 0)
    result = uncross([(101, 200), (99, 100)], [(99, 200)], None)
    assert result is not None and (result.price, result.volume, result.imbalance) == (101, 200, 0)


def test_uncross_ties_on_volume_and_imbalance_go_to_the_reference_then_the_lower_price() -> None:
    # buy 100@103, sell 100@100: 100, 103 (and the reference) all match 100 with imbalance 0
    assert uncross([(103, 100)], [(100, 100)], 102).price == 102  # type: ignore[union-attr]
    assert uncross([(103, 100)], [(100, 100)], 110).price == 103  # type: ignore[union-attr]
    assert uncross([(103, 100)], [(100, 100)], 90).price == 100  # type: ignore[union-attr]
    assert uncross([(103, 100)], [(100, 100)], None).price == 100  # type: ignore[union-attr]


def test_uncross_market_orders_only_trade_at_the_reference() -> None:
    result = uncross([(None, 300)], [(None, 200)], 250)
    assert result is not None and (result.price, result.volume) == (250, 200)
    assert uncross([(None, 300)], [(None, 200)], None) is None


def test_uncross_of_a_book_that_does_not_cross_is_nothing() -> None:
    assert uncross([(99, 100)], [(100, 100)], 99) is None
    assert uncross([], [(100, 100)], 100) is None


interest = st.lists(st.tuples(st.one_of(st.none(), st.integers(90, 110)), st.integers(1, 500)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(interest, interest, st.one_of(st.none(), st.integers(85, 115)))
def test_uncross_is_the_best_price_by_brute_force(buys: Any, sells: Any, reference: int | None) -> None:
    result = uncross(buys, sells, reference)
    # the largest volume executable at any price at all (a range covering every limit and the reference)
    anywhere = max(min(executable(buys, sells, price)) for price in range(80, 121))
    candidates: set[int] = {limit for limit, _ in [*buys, *sells] if limit is not None}
    if reference is not None:
        candidates.add(reference)
    if result is None:  # nothing can trade, or market orders only with no price to trade them at
        assert anywhere == 0 or not candidates
        return
    # the documented ranking, applied naively to every candidate price
    ranked = []
    for price in candidates:
        buy, sell = executable(buys, sells, price)
        distance = abs(price - reference) if reference is not None else 0
        ranked.append((-min(buy, sell), abs(buy - sell), distance, price))
    best = min(ranked)
    assert result.volume == anywhere == -best[0] > 0
    assert (result.imbalance, result.price) == (best[1], best[3])
    assert executable(buys, sells, result.price) == (result.buy_volume, result.sell_volume)


# The closing auction in the engine ----------------------------------------------------------------------

def test_closing_auction_executes_close_orders_against_the_book_at_one_price() -> None:
    engine = MatchingEngine()
    engine.submit(1, SELL, LIMIT, GTC, 100, 101)
    engine.submit(2, SELL, LIMIT, DAY, 200, 102)
    engine.submit(3, BUY, LIMIT, DAY, 100, 99)
    accepted = engine.submit(4, BUY, MARKET, CLOSE, 250)  # market-on-close: waits, even though asks rest
    assert accepted == [OrderAccepted(4, 250)]
    assert engine.submit(5, BUY, LIMIT, CLOSE, 100, 101) == [OrderAccepted(5, 100)]  # limit-on-close
    assert engine.book.best_bid() == 99 and engine.order(4) is not None
    engine.check_invariants()
    # buys: MOC 250, LOC 100@101, 100@99; sells 100@101, 200@102
    # at 101: buy 350 / sell 100 -> 100; at 102: 250 / 300 -> 250; at 99: 450 / 0 -> 0  => 102, 250
    events = engine.end_of_day()
    assert fills(events, 4) == [(100, 102), (150, 102)]  # market first: against 101's 100, then 102's
    assert fills(events, 1) == [(100, 102)] and fills(events, 2) == [(150, 102)]
    assert fills(events, 5) == []  # its limit 101 is below the uncross price
    expired = {e.order_id: e.expired_qty for e in events if isinstance(e, OrderExpired)}
    assert expired == {2: 50, 3: 100, 5: 100}
    assert engine.last_px == 102 and engine.close_orders == {}
    assert list(engine.book.orders) == []
    engine.check_invariants()


def test_limit_on_close_sells_meet_market_on_close_buys_at_the_last_price() -> None:
    engine = MatchingEngine()
    engine.submit(1, SELL, LIMIT, DAY, 100, 100)
    engine.submit(2, BUY, MARKET, DAY, 100)  # a trade at 100: the reference
    engine.submit(3, BUY, MARKET, CLOSE, 300)
    engine.submit(4, SELL, MARKET, CLOSE, 200)
    engine.submit(5, SELL, LIMIT, CLOSE, 100, 103)
    # at 100 (reference): buy 300 / sell 200; at 103: 300 / 300 -> 103 by volume
    events = engine.end_of_day()
    assert fills(events, 3) == [(200, 103), (100, 103)]
    assert fills(events, 4) == [(200, 103)] and fills(events, 5) == [(100, 103)]
    assert not [e for e in events if isinstance(e, OrderExpired)]


def test_close_orders_cancel_and_replace_before_the_close() -> None:
    engine = MatchingEngine()
    engine.submit(1, BUY, LIMIT, CLOSE, 100, 101)
    engine.submit(2, BUY, LIMIT, CLOSE, 100, 101)
    assert engine.replace(1, 200, 101) == [OrderReplaced(1, 200, 101, None, 200, 0, 0, False)]
    assert list(engine.close_orders) == [2, 1]  # the larger quantity lost its time priority
    assert engine.cancel(2) == [OrderCanceled(2, 100, 0, 0, CancelReason.REQUESTED)]
    assert engine.submit(3, BUY, OrdType.STOP, CLOSE, 100, None, 105) == [
        OrderRejected(3, RejectReason.UNSUPPORTED_ORDER)]
    engine.check_invariants()


# Trailing stops ----------------------------------------------------------------------------------------

def trade_at(engine: MatchingEngine, next_id: list[int], px: int) -> list[Event]:
    next_id[0] += 2
    engine.submit(next_id[0], SELL, LIMIT, GTC, 10, px)
    return engine.submit(next_id[0] + 1, BUY, LIMIT, GTC, 10, px)


def test_sell_trailing_stop_follows_the_high_and_triggers_on_the_pullback() -> None:
    engine, ids = MatchingEngine(), [100]
    trade_at(engine, ids, 100)
    engine.submit(1, BUY, LIMIT, GTC, 50, 90)  # a bid for the stop to sell into
    assert engine.submit(2, SELL, TRAILING, DAY, 50, trail=5) == [OrderAccepted(2, 50)]
    assert engine.stops[2].stop_px == 95
    trade_at(engine, ids, 104)
    assert engine.stops[2].stop_px == 99
    trade_at(engine, ids, 101)  # lower: the stop never moves back
    assert engine.stops[2].stop_px == 99
    engine.check_invariants()
    events = trade_at(engine, ids, 99)
    assert StopTriggered(2, 99) in events
    assert fills(events, 2) == [(50, 90)]
    assert 2 not in engine.trailing and 2 not in engine.stops
    engine.check_invariants()


def test_buy_trailing_stop_starts_from_the_ask_without_trades_and_follows_the_low() -> None:
    engine, ids = MatchingEngine(), [100]
    engine.submit(1, SELL, LIMIT, GTC, 500, 120)
    assert engine.submit(2, BUY, TRAILING, GTC, 50, trail=3) == [OrderAccepted(2, 50)]
    assert engine.stops[2].stop_px == 123
    trade_at(engine, ids, 110)
    assert engine.stops[2].stop_px == 113
    events = trade_at(engine, ids, 113)
    assert StopTriggered(2, 113) in events and fills(events, 2) == [(50, 120)]


def test_trailing_stop_refusals_and_a_sweep_that_moves_and_triggers_in_one_command() -> None:
    engine = MatchingEngine()
    assert engine.submit(1, SELL, TRAILING, DAY, 10, trail=5) == [OrderRejected(1, RejectReason.NO_TRAIL_REFERENCE)]
    assert engine.submit(2, SELL, TRAILING, DAY, 10, trail=0) == [OrderRejected(2, RejectReason.INVALID_TRAIL)]
    engine.submit(3, BUY, LIMIT, GTC, 10, 100)
    engine.submit(4, SELL, MARKET, DAY, 10)  # last 100
    engine.submit(5, SELL, TRAILING, DAY, 10, trail=2)  # stop 98
    engine.submit(6, BUY, LIMIT, GTC, 10, 97)
    engine.submit(7, SELL, LIMIT, GTC, 10, 105)
    # a buy to 105 lifts the stop to 103, the last trade (105) is above it: nothing fires
    events = engine.submit(8, BUY, MARKET, DAY, 10)
    assert engine.stops[5].stop_px == 103 and not [e for e in events if isinstance(e, StopTriggered)]
    assert engine.replace(5, 20, None, None)[0].kept_priority is False  # type: ignore[union-attr]
    assert engine.stops[5].stop_px == 103 and engine.stops[5].trail == 2
    engine.check_invariants()


# Self-trade prevention ---------------------------------------------------------------------------------

def stp_book(mode: SelfTradePrevention) -> tuple[MatchingEngine, list[Event]]:
    engine = MatchingEngine()
    engine.submit(1, SELL, LIMIT, GTC, 100, 100, owner="ACC1")  # own resting order, first in the queue
    engine.submit(2, SELL, LIMIT, GTC, 100, 100, owner="ACC2")
    return engine, engine.submit(3, BUY, LIMIT, GTC, 150, 100, owner="ACC1", stp=mode)


def test_stp_cancel_newest_cancels_the_incoming_order() -> None:
    engine, events = stp_book(NEWEST)
    assert events == [OrderAccepted(3, 150), OrderCanceled(3, 150, 0, 0, CancelReason.SELF_TRADE_NEWEST)]
    assert set(engine.book.orders) == {1, 2}
    engine.check_invariants()


def test_stp_cancel_oldest_cancels_the_resting_order_and_goes_on() -> None:
    engine, events = stp_book(OLDEST)
    assert events[1] == OrderCanceled(1, 100, 0, 0, CancelReason.SELF_TRADE_OLDEST)
    assert fills(events, 3) == [(100, 100)] and fills(events, 2) == [(100, 100)]
    assert engine.book.orders[3].leaves == 50 and engine.book.best_bid() == 100
    engine.check_invariants()


def test_stp_cancel_both() -> None:
    engine, events = stp_book(BOTH)
    assert events[1:] == [OrderCanceled(1, 100, 0, 0, CancelReason.SELF_TRADE_BOTH),
                          OrderCanceled(3, 150, 0, 0, CancelReason.SELF_TRADE_BOTH)]
    assert set(engine.book.orders) == {2}
    engine.check_invariants()


def test_stp_after_a_partial_fill_cancels_only_the_remainder() -> None:
    engine = MatchingEngine()
    engine.submit(1, SELL, LIMIT, GTC, 100, 100, owner="B")
    engine.submit(2, SELL, LIMIT, GTC, 100, 101, owner="A")
    events = engine.submit(3, BUY, LIMIT, GTC, 300, 101, owner="A")
    assert fills(events, 3) == [(100, 100)]
    assert events[-1] == OrderCanceled(3, 200, 100, 10_000, CancelReason.SELF_TRADE_NEWEST)
    assert engine.submit(4, BUY, LIMIT, GTC, 10, 101, owner="A", stp=9) == [
        OrderRejected(4, RejectReason.UNSUPPORTED_ORDER)]


# Everything together under random commands (hypothesis) ----------------------------------------------

owners = st.sampled_from([None, "A", "B"])
new_cmd = st.tuples(st.just("new"), st.sampled_from([BUY, SELL]),
                    st.sampled_from([MARKET, LIMIT, OrdType.STOP, OrdType.STOP_LIMIT, TRAILING]),
                    st.sampled_from([DAY, GTC, TimeInForce.IOC, CLOSE]), st.integers(1, 6).map(lambda n: n * 10),
                    st.integers(95, 105), st.integers(95, 105), owners, st.sampled_from(list(SelfTradePrevention)),
                    st.integers(1, 4))
commands = st.lists(st.one_of(new_cmd, new_cmd, new_cmd, st.tuples(st.just("cancel"), st.integers(1, 40)),
                              st.tuples(st.just("replace"), st.integers(1, 40), st.integers(1, 6).map(
                                  lambda n: n * 10), st.integers(95, 105)),
                              st.tuples(st.just("eod"))), max_size=70)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands)
def test_no_self_trade_conservation_and_invariants(cmds: list[tuple[Any, ...]]) -> None:
    engine = MatchingEngine(lot_size=10)
    owner_of: dict[int, str | None] = {}
    qty: dict[int, int] = {}
    done: dict[int, int] = {}  # filled + canceled + expired
    next_id = 0
    for cmd in cmds:
        if cmd[0] == "new":
            _, side, ord_type, tif, q, price, stop, owner, mode, trail = cmd
            next_id += 1
            owner_of[next_id] = owner
            events = engine.submit(next_id, side, ord_type, tif, q, price, stop, owner=owner, stp=mode,
                                   trail=trail)
        elif cmd[0] == "cancel":
            events = engine.cancel(cmd[1])
        elif cmd[0] == "replace":
            events = engine.replace(cmd[1], cmd[2], cmd[3], cmd[3])
        else:
            events = engine.end_of_day()
        matches: dict[int, list[int]] = {}
        for e in events:
            if isinstance(e, OrderAccepted):
                qty[e.order_id] = e.leaves
            elif isinstance(e, OrderReplaced):
                qty[e.order_id] = e.qty
            elif isinstance(e, OrderFilled):
                done[e.order_id] = done.get(e.order_id, 0) + e.last_qty
                matches.setdefault(e.match_id, []).append(e.order_id)
            elif isinstance(e, OrderCanceled):
                done[e.order_id] = done.get(e.order_id, 0) + e.canceled_qty
            elif isinstance(e, OrderExpired):
                done[e.order_id] = done.get(e.order_id, 0) + e.expired_qty
        if cmd[0] != "eod":  # continuous matching never pairs two orders of one owner
            for a, b in matches.values():
                assert owner_of[a] is None or owner_of[a] != owner_of[b], f"self-trade {a}/{b}"
        engine.check_invariants()
    for oid, q in qty.items():
        live = engine.order(oid)
        assert done.get(oid, 0) + (live.leaves if live is not None else 0) == q, f"order {oid} not conserved"


@pytest.mark.parametrize("tif", [DAY, GTC])
def test_close_orders_never_touch_the_continuous_book(tif: TimeInForce) -> None:
    engine = MatchingEngine()
    engine.submit(1, SELL, LIMIT, tif, 100, 100)
    engine.submit(2, BUY, LIMIT, CLOSE, 100, 100)
    assert engine.book.best_ask() == 100 and engine.book.best_bid() is None
    events = engine.end_of_day()
    assert fills(events, 2) == [(100, 100)] and fills(events, 1) == [(100, 100)]


# The FIX-session view: what a session is told ---------------------------------------------------------------

def _desk() -> Any:
    from exchange.client_orders import ClientOrders
    from exchange.reports import ExecIds
    from exchange.simulation import Simulation, SimulationConfig
    from refdata.instruments import universe_by_symbol

    sim = Simulation([universe_by_symbol()["MSFT"]], SimulationConfig(seed=9, taker_probability=0.0))
    sim.open()
    return ClientOrders(sim, ExecIds(7))


def test_session_stp_cancel_carries_the_reason_and_restatement_reason() -> None:
    from decimal import Decimal

    from exchange.client_orders import OrderRequest

    desk = _desk()
    engine = desk.sim.venue.engines["MSFT"]
    ask = desk.sim.venue.price("MSFT", engine.book.best_ask())
    bid = ask - Decimal("0.01")  # inside the spread: rests
    assert [r.exec_type for r in desk.new_order("GW", OrderRequest("b1", "MSFT", "1", "2", "0", Decimal(100), bid,
                                                                   account="ACC1"))] == ["0"]
    out = desk.new_order("GW", OrderRequest("s1", "MSFT", "2", "2", "0", Decimal(100), bid, account="ACC1",
                                            stp="2"))  # cancel oldest: the resting buy goes, the sell rests
    assert [(r.cl_ord_id, r.exec_type, r.ord_status) for r in out] == [("s1", "0", "0"), ("b1", "4", "4")]
    assert out[1].exec_restatement_reason == 99 and "cancel oldest" in out[1].text
    out = desk.new_order("GW", OrderRequest("b2", "MSFT", "1", "2", "0", Decimal(100), bid, account="ACC1"))
    assert [(r.cl_ord_id, r.exec_type) for r in out] == [("b2", "0"), ("b2", "4")]  # default: cancel newest
    assert "cancel newest" in out[1].text
    out = desk.new_order("GW", OrderRequest("b3", "MSFT", "1", "2", "0", Decimal(100), bid, account="ACC1", stp="7"))
    assert out[0].exec_type == "8"


def test_session_trailing_stop_and_market_on_close() -> None:
    from decimal import Decimal

    from exchange.client_orders import OrderRequest

    desk = _desk()
    out = desk.new_order("GW", OrderRequest("t1", "MSFT", "2", "P", "0", Decimal(100), account="A",
                                            exec_inst="a", peg_offset=Decimal("-0.50")))
    assert [r.exec_type for r in out] == ["0"]
    engine = desk.sim.venue.engines["MSFT"]
    order = engine.stops[int(out[0].order_id)]
    assert order.trail == 50 and order.stop_px == engine.book.best_bid() - 50
    out = desk.new_order("GW", OrderRequest("t2", "MSFT", "2", "P", "0", Decimal(100), peg_offset=Decimal("0.5")))
    assert out[0].exec_type == "8"  # a peg without ExecInst a: not a trailing stop, not supported
    out = desk.new_order("GW", OrderRequest("c1", "MSFT", "1", "1", "7", Decimal(100), account="A"))
    assert [r.exec_type for r in out] == ["0"]
    closing = desk.reports(desk.sim.end_of_day()["MSFT"])
    fills = [r for r in closing if r.cl_ord_id == "c1" and r.exec_type == "F"]
    assert sum(r.last_qty for r in fills) == 100 and fills[-1].ord_status == "2"
    assert [r.exec_type for r in closing if r.cl_ord_id == "t1"] == ["C"]  # the Day trailing stop expires


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5), st.lists(st.integers(90, 120), min_size=1, max_size=25))
def test_a_sell_trailing_stop_is_the_running_high_minus_the_trail_until_a_trade_reaches_it(
        trail: int, prices: list[int]) -> None:
    engine, ids = MatchingEngine(), [1000]
    trade_at(engine, ids, 100)
    engine.submit(1, BUY, LIMIT, GTC, 100, 50)  # a deep bid for the triggered stop to sell into
    engine.submit(2, SELL, TRAILING, GTC, 10, trail=trail)
    stop = 100 - trail  # the model: rules of the module docstring, one trade per command
    for px in prices:
        events = trade_at(engine, ids, px)
        if px <= stop:
            assert StopTriggered(2, px) in events and fills(events, 2) == [(10, 50)]
            engine.check_invariants()
            return
        stop = max(stop, px - trail)
        assert engine.stops[2].stop_px == stop and not [e for e in events if isinstance(e, StopTriggered)]
    engine.check_invariants()
