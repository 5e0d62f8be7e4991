"""Market-wide circuit breaker: levels, halt windows, once-a-day rule, late-day rule, index from quotes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.oms.circuit_breaker import (
    BreakerLevel,
    BreakerRules,
    BreakerState,
    TradingHalted,
    TradingResumed,
    index_from_quote,
    index_from_quotes,
    is_halted,
    on_index,
    on_time,
    start_session,
)
from marketdata.quotes import Quote

D = Decimal
CLOSE = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # 16:00 ET
OPEN = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def day() -> BreakerState:
    return start_session(D(100), CLOSE)


def test_small_declines_do_nothing() -> None:
    state, events = on_index(day(), OPEN, D("93.01"))
    assert events == () and not is_halted(state, OPEN)


def test_level_1_halts_15_minutes_then_resumes() -> None:
    at = OPEN + timedelta(hours=1)
    state, events = on_index(day(), at, D(93))
    (halt,) = events
    assert isinstance(halt, TradingHalted) and halt.level == 1 and halt.until == at + timedelta(minutes=15)
    assert halt.text == ("market-wide circuit breaker level 1: index 93.00 down 7.00% from the previous close; "
                         "trading halted until 15:45:00 UTC")
    assert is_halted(state, at + timedelta(minutes=14))
    state, events = on_time(state, at + timedelta(minutes=15))
    assert events == (TradingResumed(1, at + timedelta(minutes=15)),) and not is_halted(state, at)


def test_level_1_halts_only_once_a_day_but_level_2_still_can() -> None:
    at = OPEN + timedelta(hours=1)
    state, _ = on_index(day(), at, D(93))
    state, _ = on_time(state, at + timedelta(minutes=20))
    state, events = on_index(state, at + timedelta(minutes=30), D(92))
    assert events == () and not is_halted(state, at + timedelta(minutes=30))
    state, events = on_index(state, at + timedelta(minutes=40), D(87))
    assert [e.level for e in events if isinstance(e, TradingHalted)] == [2]


def test_gap_straight_to_level_2_uses_up_level_1() -> None:
    state, events = on_index(day(), OPEN, D(86))
    assert [e.level for e in events] == [2]
    state, _ = on_time(state, OPEN + timedelta(minutes=15))
    assert on_index(state, OPEN + timedelta(minutes=16), D(90))[1] == ()


def test_level_2_during_a_level_1_halt_waits_for_the_resumption() -> None:
    state, _ = on_index(day(), OPEN, D(93))
    state, events = on_index(state, OPEN + timedelta(minutes=5), D(86))
    assert events == ()
    state, events = on_index(state, OPEN + timedelta(minutes=15), D(86))
    assert isinstance(events[0], TradingResumed) and isinstance(events[1], TradingHalted) and events[1].level == 2


def test_level_3_halts_for_the_rest_of_the_day_even_during_a_halt() -> None:
    state, _ = on_index(day(), OPEN, D(93))
    state, events = on_index(state, OPEN + timedelta(minutes=5), D(80))
    (halt,) = events
    assert isinstance(halt, TradingHalted) and halt.level == 3 and halt.until is None
    assert "the rest of the day" in halt.text
    assert is_halted(state, CLOSE - timedelta(seconds=1))
    assert on_time(state, CLOSE)[1] == ()
    assert not is_halted(start_session(D(80), CLOSE + timedelta(days=3)), CLOSE + timedelta(days=3))


def test_no_timed_halt_at_or_after_1525_but_level_3_still_halts() -> None:
    late = CLOSE - timedelta(minutes=35)
    state, events = on_index(day(), late, D(90))
    assert events == () and not is_halted(state, late)
    early = on_index(day(), late - timedelta(seconds=1), D(90))[1]
    assert len(early) == 1
    state, events = on_index(state, late + timedelta(minutes=1), D(79))
    assert [e.level for e in events] == [3]


def test_early_close_moves_the_late_window() -> None:
    early_close = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # 13:00 ET
    state = start_session(D(100), early_close)
    assert on_index(state, datetime(2026, 11, 27, 17, 30, tzinfo=UTC), D(92))[1] == ()


def test_configurable_levels_and_bad_inputs() -> None:
    rules = BreakerRules(levels=(BreakerLevel(1, D("0.02"), timedelta(minutes=5)),))
    (halt,) = on_index(day(), OPEN, D(98), rules)[1]
    assert isinstance(halt, TradingHalted) and halt.until == OPEN + timedelta(minutes=5)
    with pytest.raises(ValueError, match="increasing"):
        BreakerRules(levels=(BreakerLevel(1, D("0.2"), None), BreakerLevel(2, D("0.1"), None)))
    with pytest.raises(ValueError, match="positive"):
        start_session(D(0), CLOSE)
    assert on_index(day(), OPEN, D("NaN"))[1] == ()


def test_index_from_a_configured_symbol() -> None:
    reading = index_from_quote(Quote("SPX", last=D(4650), prev_close=D(5000)))
    assert reading is not None and (reading.level, reading.prev_close) == (D(4650), D(5000))
    assert index_from_quote(Quote("SPX", last=D(4650))) is None


def test_index_from_universe_quotes() -> None:
    quotes = [Quote("A", last=D(90), prev_close=D(100)), Quote("B", last=D(45), prev_close=D(50)),
              Quote("C", last=D(10)), Quote("D", bid=D(19), ask=D(21), prev_close=D(20))]
    reading = index_from_quotes(quotes)
    assert reading is not None and reading.prev_close == 100
    assert reading.level == D(100) * (D("0.9") + D("0.9") + D(1)) / 3
    weighted = index_from_quotes(quotes, {"A": D(3), "D": D(1)})
    assert weighted is not None and weighted.level == D("92.5")
    assert index_from_quotes([]) is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.decimals(min_value=50, max_value=110, places=2)), max_size=40))
def test_halts_only_on_real_declines_and_each_level_once(path: list[tuple[int, Decimal]]) -> None:
    state, at, halts = day(), OPEN, []
    for minutes, level in path:
        at += timedelta(minutes=minutes / 10)
        state, events = on_index(state, at, level)
        for event in events:
            if isinstance(event, TradingHalted):
                assert event.decline >= D("0.07") and level <= 93
                halts.append(event.level)
    assert len(halts) == len(set(halts))
