"""Margin monitor (pure): value a margin account, decide margin calls, plan the liquidation.

Valuation is ``ledger.buying_power.value_positions`` (live marks, average cost when a mark is missing), so
the monitor, the REST API and buying power agree on equity. Maintenance requirement (FINRA 4210 defaults):
30% of long market value, plus 30% of short market value on top of the short proceeds already in cash
(130% in all); both ratios are configurable.

A call is raised when equity falls below the requirement; if it is still unmet after the grace period
the account is liquidated with market orders, largest positions first (sells for longs, buys to cover for
shorts), just enough for equity to cover the requirement plus a buffer. Trading at the mark leaves equity
unchanged and lowers the requirement by ratio × value traded; the buffer absorbs the spread paid by
market orders. Working orders must be canceled first (their blocked shares are part of the plan).

Valuation refuses what it cannot trust (``fresh_marks``): a held symbol whose quote is missing or older than
the configured age (or no quotes at all, Redis down) makes the account's valuation unavailable, and the
monitor neither raises, clears nor liquidates on it (average cost is never used to liquidate). A margin call
is liquidated at most once per attempt window (``liquidation_due``), however often the account is looked at.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from gateway.oms.model import OrdType, Side
from ledger.buying_power import value_positions
from ledger.fills import Position
from ledger.money import ZERO, quantize_cash
from marketdata.quotes import Quote

__all__ = [
    "QUOTE_STORE_DOWN",
    "LiquidationOrder",
    "LiquidationStarted",
    "MaintenancePolicy",
    "MarginAssessment",
    "MarginCallIssued",
    "MarginCallMet",
    "MarginWatch",
    "Valuation",
    "assess",
    "fresh_marks",
    "liquidation_due",
    "liquidation_plan",
    "monitor",
]


@dataclass(frozen=True, slots=True)
class MaintenancePolicy:
    long_ratio: Decimal = Decimal("0.30")
    short_ratio: Decimal = Decimal("0.30")  # on top of the proceeds: 130% of short value in all
    grace_period: timedelta = timedelta(hours=24)
    liquidation_buffer: Decimal = Decimal("0.10")  # aim for equity ≥ requirement × (1 + buffer)

    def __post_init__(self) -> None:
        if not (0 < self.long_ratio <= 1 and 0 < self.short_ratio <= 1):
            raise ValueError("maintenance ratios must be in (0, 1]")
        if self.liquidation_buffer < 0 or self.grace_period < timedelta(0):
            raise ValueError("liquidation buffer and grace period must not be negative")


@dataclass(frozen=True, slots=True)
class MarginAssessment:
    equity: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    requirement: Decimal

    @property
    def deficit(self) -> Decimal:
        """Equity missing to meet maintenance (0 when met)."""
        return max(ZERO, self.requirement - self.equity)

    @property
    def in_call(self) -> bool:
        return self.equity < self.requirement


def _mark(position: Position, marks: Mapping[str, Decimal]) -> Decimal:
    return marks.get(position.symbol, position.avg_cost)


def assess(cash: Decimal, positions: Iterable[Position], marks: Mapping[str, Decimal],
           policy: MaintenancePolicy | None = None) -> MarginAssessment:
    policy = policy or MaintenancePolicy()
    valuation = value_positions(cash, positions, marks)
    requirement = quantize_cash(valuation.long_market_value * policy.long_ratio
                                + valuation.short_market_value * policy.short_ratio)
    return MarginAssessment(valuation.equity, valuation.long_market_value, valuation.short_market_value,
                            requirement)


@dataclass(frozen=True, slots=True)
class Valuation:
    """Marks for every held symbol, or why the account cannot be valued now."""

    marks: Mapping[str, Decimal]
    problems: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        return not self.problems

    @property
    def text(self) -> str:
        return "ok" if self.available else "valuation unavailable: " + "; ".join(self.problems)


QUOTE_STORE_DOWN = "quotes unavailable (quote store down)"


def fresh_marks(symbols: Sequence[str], quotes: Mapping[str, Quote] | None, now_us: int,
                max_age_seconds: float) -> Valuation:
    """Marks of ``symbols`` from quotes no older than ``max_age_seconds``; ``quotes`` None: none could be read."""
    if not symbols:
        return Valuation({})
    if quotes is None:
        return Valuation({}, (QUOTE_STORE_DOWN,))
    marks: dict[str, Decimal] = {}
    problems: list[str] = []
    for symbol in sorted(set(symbols)):
        quote = quotes.get(symbol)
        if quote is None or quote.mark is None:
            problems.append(f"no quote for {symbol}")
        elif quote.is_stale(max_age_seconds, now_us):
            problems.append(f"stale quote for {symbol} ({quote.age_seconds(now_us):.0f}s old, max "
                            f"{max_age_seconds:g}s)" if quote.ingest_ts_us else f"stale quote for {symbol}")
        else:
            marks[symbol] = quote.mark
    return Valuation(marks, tuple(problems))


def liquidation_due(last_attempt: datetime | None, now: datetime, retry_after: timedelta) -> bool:
    """One liquidation attempt per margin call per window: the first at once, the next after ``retry_after``."""
    return last_attempt is None or now >= last_attempt + retry_after


# Events -------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MarginCallIssued:
    at: datetime
    equity: Decimal
    requirement: Decimal
    deficit: Decimal
    liquidate_after: datetime

    @property
    def text(self) -> str:
        return (f"margin call: equity {self.equity:.2f} below maintenance requirement {self.requirement:.2f} "
                f"(deficit {self.deficit:.2f}); deposit or reduce positions before "
                f"{self.liquidate_after:%Y-%m-%d %H:%M} UTC")


@dataclass(frozen=True, slots=True)
class MarginCallMet:
    at: datetime
    since: datetime


@dataclass(frozen=True, slots=True)
class LiquidationStarted:
    at: datetime
    since: datetime
    deficit: Decimal


@dataclass(frozen=True, slots=True)
class MarginWatch:
    """What the monitor remembers of an account (``accounts.margin_call_since``)."""

    call_since: datetime | None = None


MarginEvent = MarginCallIssued | MarginCallMet | LiquidationStarted


def monitor(watch: MarginWatch, assessment: MarginAssessment, now: datetime,
            policy: MaintenancePolicy | None = None) -> tuple[MarginWatch, MarginEvent | None]:
    """One periodic look at an account: raise, clear or escalate its margin call."""
    policy = policy or MaintenancePolicy()
    since = watch.call_since
    if not assessment.in_call:
        return (MarginWatch(), MarginCallMet(now, since)) if since is not None else (watch, None)
    if since is None:
        return MarginWatch(now), MarginCallIssued(now, assessment.equity, assessment.requirement,
                                                   assessment.deficit, now + policy.grace_period)
    if now >= since + policy.grace_period:
        return watch, LiquidationStarted(now, since, assessment.deficit)
    return watch, None


# Liquidation ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LiquidationOrder:
    symbol: str
    side: Side  # SELL a long, BUY to cover a short
    qty: Decimal
    mark: Decimal  # the price it was planned at
    ord_type: OrdType = OrdType.MARKET


def liquidation_plan(cash: Decimal, positions: Iterable[Position], marks: Mapping[str, Decimal],
                     policy: MaintenancePolicy | None = None) -> tuple[LiquidationOrder, ...]:
    """Market orders restoring equity ≥ requirement × (1 + buffer), largest positions first; whole shares
    (a fractional remainder goes with the last lot). Empty when the account is not in a call."""
    policy = policy or MaintenancePolicy()
    positions = tuple(p for p in positions if p.qty != 0)
    assessment = assess(cash, positions, marks, policy)
    if not assessment.in_call:
        return ()
    # Requirement reduction needed: req − equity / (1 + buffer) (everything when equity ≤ 0).
    need = assessment.requirement - assessment.equity / (1 + policy.liquidation_buffer)
    plan: list[LiquidationOrder] = []
    ranked = sorted(positions, key=lambda p: (-abs(p.qty * _mark(p, marks)), p.symbol))
    for position in ranked:
        if need <= 0:
            break
        mark = _mark(position, marks)
        held = abs(position.qty)
        ratio = policy.long_ratio if position.qty > 0 else policy.short_ratio
        per_share = ratio * mark
        if per_share <= 0:
            continue  # a worthless position frees nothing
        qty = min(held, (need / per_share).to_integral_value(rounding=ROUND_CEILING))
        if held - qty < 1:
            qty = held
        side = Side.SELL if position.qty > 0 else Side.BUY
        plan.append(LiquidationOrder(position.symbol, side, qty, mark))
        need -= qty * per_share
    return tuple(plan)
