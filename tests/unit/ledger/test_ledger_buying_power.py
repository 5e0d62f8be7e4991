from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.buying_power import (
    MarginPolicy,
    buying_power,
    margin_buying_power,
    margin_call_amount,
    value_positions,
    withdrawable,
)
from ledger.errors import LedgerInputError
from ledger.fills import AccountType, Position
from ledger.reservations import CashBalance

D = Decimal


def test_cash_account_buying_power_is_free_cash() -> None:
    assert buying_power(AccountType.CASH, CashBalance(D(1000), D(250))) == 750
    assert buying_power(AccountType.CASH, CashBalance(D(100), D(100))) == 0


def test_reg_t_doubles_free_equity_and_counts_shorts_against_it() -> None:
    # 100k cash, nothing held: 200k of buying power at 50% initial margin
    assert margin_buying_power(CashBalance(D(100_000)), [], {}) == 200_000
    # long 1000 @ 100 bought on margin: cash 0, equity 100k, requirement 50k → 100k left
    long = Position("AAA", qty=D(1000), cost_basis=D(100_000))
    assert margin_buying_power(CashBalance(D(0)), [long], {"AAA": D(100)}) == 100_000
    # with a 50k debit balance and the price halved, equity is 0: nothing left
    assert margin_buying_power(CashBalance(D(-50_000)), [long], {"AAA": D(50)}) == 0
    # price halved, no debit: equity 50k, requirement 25k → 50k; orders already blocking 20k leave 30k
    assert margin_buying_power(CashBalance(D(0), D(20_000)), [long], {"AAA": D(50)}) == 30_000
    # short 500 @ 100 with 100k cash: cash 150k, equity 100k, requirement 25k → 150k
    short = Position("BBB", qty=D(-500), cost_basis=D(50_000))
    valuation = value_positions(D(150_000), [short], {"BBB": D(100)})
    assert (valuation.equity, valuation.short_market_value) == (D(100_000), D(50_000))
    assert margin_buying_power(CashBalance(D(150_000)), [short], {"BBB": D(100)}) == 150_000


def test_maintenance_margin_call() -> None:
    long = Position("AAA", qty=D(1000), cost_basis=D(100_000))
    # bought 100k with 50k cash: debit balance 50k. At 70 equity is 20k against 21k maintenance.
    assert margin_call_amount(CashBalance(D(-50_000)), [long], {"AAA": D(70)}) == 1_000
    assert margin_call_amount(CashBalance(D(-50_000)), [long], {"AAA": D(80)}) == 0
    # without a mark the position is valued at its average cost
    assert value_positions(D(0), [long], {}).long_market_value == 100_000


def test_margin_policy_must_be_sane() -> None:
    with pytest.raises(LedgerInputError):
        MarginPolicy(initial_ratio=D("0.25"), maintenance_ratio=D("0.30"))


@given(cash=st.integers(-10**6, 10**6), qty=st.integers(-10**4, 10**4), mark=st.integers(1, 10**4),
       blocked=st.integers(0, 10**5))
def test_buying_power_is_never_negative_and_falls_with_blocked(cash: int, qty: int, mark: int, blocked: int) -> None:
    position = [Position("AAA", qty=D(qty), cost_basis=abs(D(qty)) * mark)]
    free = margin_buying_power(CashBalance(D(cash)), position, {"AAA": D(mark)})
    held = margin_buying_power(CashBalance(D(cash), D(blocked)), position, {"AAA": D(mark)})
    assert free >= held >= 0
    assert held == max(D(0), free - blocked) or free == 0


def test_withdrawable_keeps_short_proceeds_and_margin_in_the_account() -> None:
    assert withdrawable(AccountType.CASH, CashBalance(D(500), D(200))) == 300
    flat = CashBalance(D(100_000))
    assert withdrawable(AccountType.MARGIN, flat) == 100_000
    # shorted 100k: cash 200k but equity 100k, requirement 50k → only 50k may leave
    short = Position("BBB", qty=D(-1000), cost_basis=D(100_000))
    assert withdrawable(AccountType.MARGIN, CashBalance(D(200_000)), [short], {"BBB": D(100)}) == 50_000
    # open orders blocking 20k notional hold back 10k more of equity
    assert withdrawable(AccountType.MARGIN, CashBalance(D(200_000), D(20_000)), [short], {"BBB": D(100)}) == 40_000
    # long on margin (debit balance): nothing to withdraw
    long = Position("AAA", qty=D(1000), cost_basis=D(100_000))
    assert withdrawable(AccountType.MARGIN, CashBalance(D(-50_000)), [long], {"AAA": D(100)}) == 0


@given(cash=st.integers(-10**6, 10**6), qty=st.integers(-10**4, 10**4), mark=st.integers(1, 10**4),
       blocked=st.integers(0, 10**5), take=st.integers(1, 100))
def test_withdrawing_what_is_withdrawable_keeps_reg_t(cash: int, qty: int, mark: int, blocked: int, take: int) -> None:
    positions = [Position("AAA", qty=D(qty), cost_basis=abs(D(qty)) * mark)]
    balance = CashBalance(D(cash), D(blocked))
    amount = withdrawable(AccountType.MARGIN, balance, positions, {"AAA": D(mark)}) * take / 100
    after = value_positions(D(cash) - amount, positions, {"AAA": D(mark)})
    assert amount <= max(D(0), balance.available)
    if amount > 0:
        assert after.equity >= after.gross_market_value * D("0.5") + D(blocked) * D("0.5") - D("0.0001")
