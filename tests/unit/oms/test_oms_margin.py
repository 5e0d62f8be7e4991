"""Margin monitor math: assessment, call lifecycle with grace period, liquidation plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.oms.margin import (
    LiquidationStarted,
    MaintenancePolicy,
    MarginCallIssued,
    MarginCallMet,
    MarginWatch,
    assess,
    liquidation_plan,
    monitor,
)
from gateway.oms.model import Side
from ledger.buying_power import maintenance_requirement, value_positions
from ledger.fills import Position

D = Decimal
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def pos(symbol: str, qty: str, avg: str = "100") -> Position:
    return Position(symbol, D(qty), cost_basis=abs(D(qty)) * D(avg))


def test_assessment_matches_the_ledger_at_default_ratios() -> None:
    positions = [pos("AAPL", "100"), pos("TSLA", "-50")]
    marks = {"AAPL": D(120), "TSLA": D(200)}
    a = assess(D(5000), positions, marks)
    assert (a.long_market_value, a.short_market_value, a.equity) == (D(12000), D(10000), D(7000))
    assert a.requirement == maintenance_requirement(value_positions(D(5000), positions, marks)) == D("6600.0000")
    assert not a.in_call and a.deficit == 0


def test_margin_call_when_equity_below_maintenance() -> None:
    # borrowed 7000 to hold 10000 of AAPL; AAPL drops to 95: equity 2500 < 30% × 9500 = 2850
    a = assess(D(-7000), [pos("AAPL", "100")], {"AAPL": D(95)})
    assert a.in_call and a.deficit == D("350.0000")


def test_call_lifecycle_issue_wait_liquidate() -> None:
    policy = MaintenancePolicy(grace_period=timedelta(hours=2))
    bad = assess(D(-7000), [pos("AAPL", "100")], {"AAPL": D(95)})
    watch, event = monitor(MarginWatch(), bad, NOW, policy)
    assert isinstance(event, MarginCallIssued) and watch.call_since == NOW
    assert event.text == ("margin call: equity 2500.00 below maintenance requirement 2850.00 (deficit 350.00); "
                          "deposit or reduce positions before 2026-11-20 17:00 UTC")
    assert monitor(watch, bad, NOW + timedelta(hours=1), policy) == (watch, None)
    _, event = monitor(watch, bad, NOW + timedelta(hours=2), policy)
    assert isinstance(event, LiquidationStarted) and event.since == NOW and event.deficit == D(350)


def test_call_met_clears_the_watch() -> None:
    good = assess(D(0), [pos("AAPL", "100")], {"AAPL": D(95)})
    watch, event = monitor(MarginWatch(NOW), good, NOW + timedelta(minutes=5))
    assert watch == MarginWatch() and event == MarginCallMet(NOW + timedelta(minutes=5), NOW)
    assert monitor(MarginWatch(), good, NOW) == (MarginWatch(), None)


def test_liquidation_sells_largest_first_just_enough() -> None:
    positions = [pos("AAPL", "100"), pos("MSFT", "10"), pos("TSLA", "-20")]
    marks = {"AAPL": D(95), "MSFT": D(100), "TSLA": D(100)}
    cash = D(-6000)  # equity = -6000 + 9500 + 1000 - 2000 = 2500; requirement 0.3 × 12500 = 3750
    plan = liquidation_plan(cash, positions, marks)
    assert plan[0].symbol == "AAPL" and plan[0].side is Side.SELL
    # need = 3750 − 2500 / 1.1 = 1477.27…; AAPL frees 28.5 per share → 52 shares
    assert [(o.symbol, o.qty) for o in plan] == [("AAPL", D(52))]
    after = assess(cash + 52 * D(95), [pos("AAPL", "48"), positions[1], positions[2]], marks)
    assert after.equity >= after.requirement * D("1.1")


def test_liquidation_covers_shorts_with_buys_and_empties_a_bankrupt_account() -> None:
    positions = [pos("AAPL", "10"), pos("TSLA", "-30")]
    marks = {"AAPL": D(100), "TSLA": D(100)}
    plan = liquidation_plan(D(-2000), positions, marks)  # equity = -2000 + 1000 - 3000 < 0
    assert {(o.symbol, o.side, o.qty) for o in plan} == {("TSLA", Side.BUY, D(30)), ("AAPL", Side.SELL, D(10))}
    assert plan[0].symbol == "TSLA"


def test_no_plan_when_not_in_call_and_fractional_remainder_goes_along() -> None:
    assert liquidation_plan(D(0), [pos("AAPL", "10")], {"AAPL": D(100)}) == ()
    plan = liquidation_plan(D("-1023.6"), [pos("AAPL", "10.5")], {"AAPL": D(100)})  # needs 9.7 shares
    assert plan[0].qty == D("10.5")


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        MaintenancePolicy(long_ratio=D(0))
    with pytest.raises(ValueError):
        MaintenancePolicy(liquidation_buffer=D(-1))


@settings(max_examples=150, deadline=None)
@given(cash=st.integers(-50_000, 5_000),
       holdings=st.lists(st.tuples(st.integers(-300, 300), st.integers(1, 500)), min_size=1, max_size=6))
def test_executing_the_plan_at_the_marks_restores_maintenance(cash: int, holdings: list[tuple[int, int]]) -> None:
    positions = [Position(f"S{i}", D(q), cost_basis=abs(D(q)) * D(p)) for i, (q, p) in enumerate(holdings)]
    marks = {f"S{i}": D(p) for i, (_, p) in enumerate(holdings)}
    before = assess(D(cash), positions, marks)
    plan = liquidation_plan(D(cash), positions, marks)
    if not before.in_call:
        assert plan == ()
        return
    remaining = {p.symbol: p.qty for p in positions}
    new_cash = D(cash)
    for order in plan:
        sign = -1 if order.side is Side.SELL else 1
        assert order.qty <= abs(remaining[order.symbol])
        remaining[order.symbol] += sign * order.qty
        new_cash -= sign * order.qty * order.mark
    after = assess(new_cash, [Position(s, q, cost_basis=abs(q) * marks[s]) for s, q in remaining.items()], marks)
    if before.equity > 0:
        assert after.equity >= after.requirement
    else:
        assert all(q == 0 for q in remaining.values())  # nothing left to give
