"""Market-wide circuit breaker (SEC/NYSE MWCB rules), a pure state machine fed with (time, index level).

Real rules, the defaults here: the reference is the index's previous close; a decline of 7% (Level 1) or
13% (Level 2) halts trading for 15 minutes when it happens before 15:25 ET (35 minutes before a regular
close: the window moves with early closes), and not at all after; each of them halts at most once a day.
A 20% decline (Level 3) halts for the rest of the day at any time. Halts and resumptions are events.

``step`` is the whole machine for the running gateway: (state, time, index reading, today's close) → new
state and events. It applies the daily reset: a state of an earlier trading day (the ET date) is replaced
by a fresh one measured against the reading's previous close, and a halt still engaged from that day
resumes. The shell (``halts``) persists the state and the halts in PostgreSQL and applies them.

The index is either a configured symbol's quote (``index_from_quote``) or computed from the universe's
quotes (``index_from_quotes``): the (optionally weighted) average of last/previous close, times 100, so
the previous close of that index is 100 by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from marketdata.quotes import Quote

__all__ = [
    "ET",
    "BreakerEvent",
    "BreakerLevel",
    "BreakerRules",
    "BreakerState",
    "DayStarted",
    "IndexReading",
    "TradingHalted",
    "TradingResumed",
    "index_from_quote",
    "index_from_quotes",
    "is_halted",
    "on_index",
    "on_time",
    "regular_close",
    "start_session",
    "step",
    "trading_day_of",
    "with_halt_window",
]

ET = ZoneInfo("America/New_York")

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class BreakerLevel:
    level: int
    decline: Decimal  # fraction of the previous close
    halt: timedelta | None  # None: for the rest of the day


@dataclass(frozen=True, slots=True)
class BreakerRules:
    levels: tuple[BreakerLevel, ...] = (
        BreakerLevel(1, Decimal("0.07"), timedelta(minutes=15)),
        BreakerLevel(2, Decimal("0.13"), timedelta(minutes=15)),
        BreakerLevel(3, Decimal("0.20"), None),
    )
    # Timed halts only start before close − this (15:25 ET on a 16:00 close).
    no_timed_halt_before_close: timedelta = timedelta(minutes=35)

    def __post_init__(self) -> None:
        declines = [lvl.decline for lvl in self.levels]
        if not self.levels or declines != sorted(declines) or not all(0 < d < 1 for d in declines):
            raise ValueError("circuit breaker levels need increasing declines between 0 and 1")


@dataclass(frozen=True, slots=True)
class IndexReading:
    level: Decimal
    prev_close: Decimal


@dataclass(frozen=True, slots=True)
class TradingHalted:
    level: int
    at: datetime
    index_level: Decimal
    decline: Decimal  # fraction
    until: datetime | None  # None: rest of the day

    @property
    def text(self) -> str:
        until = "the rest of the day" if self.until is None else f"until {self.until:%H:%M:%S} UTC"
        return (f"market-wide circuit breaker level {self.level}: index {self.index_level:.2f} down "
                f"{self.decline * 100:.2f}% from the previous close; trading halted {until}")


@dataclass(frozen=True, slots=True)
class TradingResumed:
    level: int
    at: datetime


@dataclass(frozen=True, slots=True)
class DayStarted:
    """The daily reset: a new trading day, thresholds measured against ``prev_close``."""

    trading_day: date
    prev_close: Decimal


BreakerEvent = TradingHalted | TradingResumed | DayStarted


@dataclass(frozen=True, slots=True)
class BreakerState:
    prev_close: Decimal
    session_close: datetime
    triggered: frozenset[int] = frozenset()
    halted_level: int | None = None
    halted_until: datetime | None = None  # with halted_level set and this None: halted for the day
    trading_day: date | None = None  # the ET date this state is for (None: not tied to a day)


def start_session(prev_close: Decimal, session_close: datetime, trading_day: date | None = None) -> BreakerState:
    """A fresh trading day: nothing triggered, nothing halted."""
    if not prev_close.is_finite() or prev_close <= 0:
        raise ValueError(f"previous close must be positive, got {prev_close}")
    if session_close.tzinfo is None:
        raise ValueError("session close must be timezone-aware")
    return BreakerState(prev_close, session_close, trading_day=trading_day)


def trading_day_of(at: datetime) -> date:
    """The trading day an instant belongs to: its date in New York."""
    return at.astimezone(ET).date()


def regular_close(day: date) -> datetime:
    """16:00 ET on ``day`` (the close used when no exchange calendar applies, e.g. 24-hour trading)."""
    return datetime.combine(day, time(16, 0), ET)


def with_halt_window(rules: BreakerRules, window: timedelta) -> BreakerRules:
    """The same levels with every timed halt lasting ``window`` (drills and tests use a short one)."""
    return replace(rules, levels=tuple(lvl if lvl.halt is None else replace(lvl, halt=window)
                                       for lvl in rules.levels))


def step(state: BreakerState | None, at: datetime, reading: IndexReading | None, session_close: datetime,
         rules: BreakerRules | None = None) -> tuple[BreakerState | None, tuple[BreakerEvent, ...]]:
    """One look at the market at ``at`` (timezone-aware): the daily reset, timed resumptions, then the index.

    ``session_close`` is today's close (early closes included): timed halts start only before it minus
    ``rules.no_timed_halt_before_close`` (15:25 ET on a 16:00 close). Without a reading, time still passes.
    """
    if at.tzinfo is None:
        raise ValueError("the circuit breaker needs a timezone-aware time")
    day = trading_day_of(at)
    events: tuple[BreakerEvent, ...] = ()
    if state is not None and state.trading_day is not None and state.trading_day != day:
        if state.halted_level is not None:  # the day is over: even a level 3 halt ends with it
            events = (TradingResumed(state.halted_level, at),)
        state = None
    if state is None:
        if reading is None or not reading.prev_close.is_finite() or reading.prev_close <= 0:
            return None, events
        state = start_session(reading.prev_close, session_close, day)
        events = (*events, DayStarted(day, reading.prev_close))
    state = replace(state, session_close=session_close)
    if reading is None:
        state, more = on_time(state, at)
    else:
        state, more = on_index(state, at, reading.level, rules)
    return state, (*events, *more)


def is_halted(state: BreakerState, at: datetime) -> bool:
    if state.halted_level is None:
        return False
    return state.halted_until is None or at < state.halted_until


def on_time(state: BreakerState, at: datetime) -> tuple[BreakerState, tuple[BreakerEvent, ...]]:
    """Time passing: a timed halt that has run its course resumes."""
    if state.halted_level is not None and state.halted_until is not None and at >= state.halted_until:
        return replace(state, halted_level=None, halted_until=None), (TradingResumed(state.halted_level, at),)
    return state, ()


def on_index(state: BreakerState, at: datetime, level: Decimal,
             rules: BreakerRules | None = None) -> tuple[BreakerState, tuple[BreakerEvent, ...]]:
    """Feed an index level observed at ``at``; returns the new state and any halt/resume events."""
    rules = rules or BreakerRules()
    state, events = on_time(state, at)
    if not level.is_finite() or level < 0:
        return state, events  # a broken print never halts the market
    decline = (state.prev_close - level) / state.prev_close
    crossed = [lvl for lvl in rules.levels if decline >= lvl.decline and lvl.level not in state.triggered]
    if not crossed:
        return state, events
    worst = crossed[-1]
    if state.halted_level is not None and (worst.halt is not None or state.halted_until is None):
        return state, events  # during a timed halt only a rest-of-day level escalates; looked at again after
    triggered = state.triggered | {lvl.level for lvl in crossed}
    if worst.halt is None:
        halted = replace(state, triggered=triggered, halted_level=worst.level, halted_until=None)
        return halted, (*events, TradingHalted(worst.level, at, level, decline, None))
    if at >= state.session_close - rules.no_timed_halt_before_close:
        return replace(state, triggered=triggered), events  # too late in the day for a timed halt
    until = at + worst.halt
    halted = replace(state, triggered=triggered, halted_level=worst.level, halted_until=until)
    return halted, (*events, TradingHalted(worst.level, at, level, decline, until))


def index_from_quote(quote: Quote) -> IndexReading | None:
    """A configured index symbol: its mark against its previous close."""
    if quote.mark is None or quote.prev_close is None or quote.prev_close <= 0:
        return None
    return IndexReading(quote.mark, quote.prev_close)


def index_from_quotes(quotes: Iterable[Quote], weights: Mapping[str, Decimal] | None = None) -> IndexReading | None:
    """Average of mark / previous close over the quotes that have both (weighted if weights are given,
    symbols without a weight left out), × 100; None when no quote qualifies."""
    total = weight_sum = Decimal(0)
    for quote in quotes:
        mark, prev = quote.mark, quote.prev_close
        weight = Decimal(1) if weights is None else weights.get(quote.symbol, Decimal(0))
        if mark is None or prev is None or prev <= 0 or weight <= 0:
            continue
        total += weight * mark / prev
        weight_sum += weight
    if weight_sum == 0:
        return None
    return IndexReading(HUNDRED * total / weight_sum, HUNDRED)
