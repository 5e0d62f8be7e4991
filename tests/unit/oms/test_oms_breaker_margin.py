"""The circuit breaker as the running gateway drives it (``step``: daily reset, 15:25 ET, resumption),
margin valuation that refuses stale quotes, liquidation pacing, and stop buys' market-order protection."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.oms.circuit_breaker import (
    ET,
    BreakerRules,
    BreakerState,
    DayStarted,
    IndexReading,
    TradingHalted,
    TradingResumed,
    is_halted,
    regular_close,
    step,
    trading_day_of,
    with_halt_window,
)
from gateway.oms.margin import fresh_marks, liquidation_due
from gateway.oms.market_protection import protection_price
from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdType, Side, TimeInForce
from gateway.oms.order_fsm import Order, submit
from gateway.oms.reports import venue_new_order
from gateway.oms.risk import check_new_order
from gateway.oms.risk_config import Accepted, Rejected, RiskContext, RiskLimits, RiskRule
from ledger.fills import AccountType, Position
from ledger.money import floor_cash
from ledger.reservations import CashBalance, OrderReservation
from marketdata.quotes import Quote

D = Decimal
DAY = date(2026, 11, 20)


def et(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ET).astimezone(UTC)


def reading(level: str, prev: str = "100") -> IndexReading:
    return IndexReading(D(level), D(prev))


def go(state: BreakerState | None, at: datetime, level: str | None,
       rules: BreakerRules | None = None) -> tuple[BreakerState | None, tuple[object, ...]]:
    return step(state, at, None if level is None else reading(level), regular_close(trading_day_of(at)), rules)


def test_first_look_starts_the_day_against_the_previous_close() -> None:
    state, events = go(None, et(10), "99")
    assert events == (DayStarted(DAY, D(100)),) and state is not None and state.trading_day == DAY
    assert go(None, et(10), None) == (None, ())  # nothing to measure against yet


def test_level_1_before_1525_halts_for_the_window_then_resumes() -> None:
    state, _ = go(None, et(10), "100")
    state, events = go(state, et(11), "92.5")
    (halt,) = events
    assert isinstance(halt, TradingHalted) and halt.level == 1 and halt.until == et(11, 15)
    state, events = go(state, et(11, 14), None)
    assert events == () and state is not None and is_halted(state, et(11, 14))
    state, events = go(state, et(11, 15), "93")
    assert events == (TradingResumed(1, et(11, 15)),) and state is not None and not is_halted(state, et(11, 15))


def test_at_or_after_1525_et_levels_1_and_2_do_not_halt_but_level_3_does() -> None:
    state, _ = go(None, et(9, 30), "100")
    for level in ("92", "86"):
        state, events = go(state, et(15, 25), level)
        assert events == ()
    state, events = go(state, et(15, 40), "79")
    (halt,) = events
    assert isinstance(halt, TradingHalted) and halt.level == 3 and halt.until is None


def test_a_short_window_setting_and_the_daily_reset_ends_even_a_level_3_halt() -> None:
    rules = with_halt_window(BreakerRules(), timedelta(seconds=3))
    state, events = go(None, et(10), "92", rules)
    halt = events[-1]
    assert isinstance(halt, TradingHalted) and halt.until == et(10) + timedelta(seconds=3)
    state, _ = go(state, et(11), "79", rules)
    assert state is not None and state.halted_level == 3
    next_day = date(2026, 11, 23)
    state, events = go(state, et(9, 31, next_day), "99", rules)
    assert events == (TradingResumed(3, et(9, 31, next_day)), DayStarted(next_day, D(100)))
    assert state is not None and state.triggered == frozenset() and not is_halted(state, et(9, 31, next_day))


looks = st.lists(st.tuples(st.integers(1, 180),  # minutes since the previous look
                           st.one_of(st.none(), st.decimals(min_value=60, max_value=110, places=2))),
                 max_size=60)


@settings(max_examples=200, deadline=None)
@given(looks, st.integers(1, 900))
def test_breaker_invariants_over_any_day(path: list[tuple[int, Decimal | None]], window: int) -> None:
    rules = with_halt_window(BreakerRules(), timedelta(seconds=window))
    state: BreakerState | None = None
    at = et(4)
    fired: dict[date, list[int]] = {}
    for minutes, level in path:
        at += timedelta(minutes=minutes)
        day = trading_day_of(at)
        close = regular_close(day)
        before = state
        state, events = step(state, at, None if level is None else IndexReading(level, D(100)), close, rules)
        for event in events:
            if isinstance(event, TradingHalted):
                assert level is not None and event.decline >= D("0.07")
                if event.level < 3:  # timed halts only before 15:25 ET, for the window
                    assert at < close - timedelta(minutes=35) and event.until == at + rules.levels[0].halt  # type: ignore[operator]
                else:
                    assert event.until is None and level <= 80
                fired.setdefault(day, []).append(event.level)
            if isinstance(event, DayStarted):
                assert event.trading_day == day and (before is None or before.trading_day != day)
        if state is not None:
            assert state.trading_day == day  # never a state of another day
            if state.halted_level == 3:
                assert is_halted(state, close)  # level 3: the rest of the day
    for levels in fired.values():
        assert len(levels) == len(set(levels))  # each level at most once a day


def quote(symbol: str, last: str, age_s: float, now_us: int) -> Quote:
    return Quote(symbol, last=D(last), ingest_ts_us=now_us - int(age_s * 1_000_000))


def test_margin_valuation_refuses_stale_missing_and_unreadable_quotes() -> None:
    now = 10**15
    fresh = fresh_marks(["MSFT"], {"MSFT": quote("MSFT", "400", 5, now)}, now, 30)
    assert fresh.available and fresh.marks == {"MSFT": D(400)} and fresh.text == "ok"
    stale = fresh_marks(["MSFT", "AAPL"], {"MSFT": quote("MSFT", "400", 45, now),
                                           "AAPL": quote("AAPL", "200", 1, now)}, now, 30)
    assert not stale.available and stale.text.startswith("valuation unavailable: stale quote for MSFT (45s old")
    missing = fresh_marks(["F"], {}, now, 30)
    assert missing.text == "valuation unavailable: no quote for F"
    down = fresh_marks(["F"], None, now, 30)
    assert down.text == "valuation unavailable: quotes unavailable (quote store down)"
    assert fresh_marks([], None, now, 30).available  # nothing held: nothing to value


def test_liquidation_once_per_attempt_window() -> None:
    t = datetime(2026, 11, 20, 15, tzinfo=UTC)
    window = timedelta(seconds=60)
    assert liquidation_due(None, t, window)
    assert not liquidation_due(t, t + timedelta(seconds=59), window)
    assert liquidation_due(t, t + timedelta(seconds=60), window)


def stop_buy(qty: str = "10", tif: TimeInForce = TimeInForce.DAY) -> Order:
    return submit(order_id=OrderID("O1"), cl_ord_id=ClOrdID("C1"), account_id=AccountID("A1"), symbol="AAPL",
                  side=Side.BUY, ord_type=OrdType.STOP, time_in_force=tif, qty=D(qty), price=None,
                  stop_px=D(100))


def test_a_stop_buy_goes_as_a_stop_limit_at_its_reserved_collar() -> None:
    held = OrderReservation.for_buy(D(10), D("105.0005"))  # max(ask, stop 100) + 5 %
    price = protection_price(stop_buy(), held)
    assert price == D("105.00")
    fields = dict(venue_new_order(stop_buy(tif=TimeInForce.GTC), price))
    assert (fields[40], D(str(fields[44])), D(str(fields[99])), fields[59]) == ("4", D("105.00"), D(100), "1")
    assert floor_cash(D(10) * price) <= held.cash  # no fill inside the limit costs more than blocked
    sell = submit(order_id=OrderID("O2"), cl_ord_id=ClOrdID("C2"), account_id=AccountID("A1"), symbol="AAPL",
                  side=Side.SELL, ord_type=OrdType.STOP, time_in_force=TimeInForce.DAY, qty=D(10), price=None,
                  stop_px=D(90))
    assert protection_price(sell, OrderReservation.for_sell(D(10))) is None


def test_margin_buying_power_refused_on_a_stale_valuation_sells_still_pass() -> None:
    position = Position("AAPL", qty=D(50), cost_basis=D(4500))
    problem = "valuation unavailable: stale quote for AAPL (45s old, max 30s)"
    ctx = RiskContext(account_type=AccountType.MARGIN, cash=CashBalance(D(100000), D(0)), position=position,
                      quote=Quote("AAPL", bid=D(99), ask=D(101), last=D(100)), positions=(position,), marks={},
                      valuation_problem=problem)
    buy = submit(order_id=OrderID("O1"), cl_ord_id=ClOrdID("C1"), account_id=AccountID("A1"), symbol="AAPL",
                 side=Side.BUY, ord_type=OrdType.LIMIT, time_in_force=TimeInForce.DAY, qty=D(1), price=D(100))
    decision = check_new_order(buy, ctx, RiskLimits())
    assert isinstance(decision, Rejected) and decision.rule is RiskRule.NO_REFERENCE_PRICE
    assert decision.text == f"no reference price: margin {problem}"
    sell = submit(order_id=OrderID("O2"), cl_ord_id=ClOrdID("C2"), account_id=AccountID("A1"), symbol="AAPL",
                  side=Side.SELL, ord_type=OrdType.LIMIT, time_in_force=TimeInForce.DAY, qty=D(10), price=D(100))
    assert isinstance(check_new_order(sell, ctx, RiskLimits()), Accepted)
