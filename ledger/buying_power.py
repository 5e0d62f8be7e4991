"""Buying power. Cash accounts: free cash (cash − blocked). Margin accounts: Regulation T.

Margin equity = cash + long market value − short market value (cash may be negative: a debit balance).
Initial requirement (Reg T, 50%) applies to gross market value; buying power is the excess over it,
levered by 1 / initial ratio, less what open orders already block. Maintenance (30%) decides margin calls.
Positions without a mark are valued at their average cost, so a missing quote never hides a position.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from ledger.errors import LedgerInputError
from ledger.fills import AccountType, Position
from ledger.money import ZERO, floor_cash, quantize_cash
from ledger.reservations import CashBalance


@dataclass(frozen=True, slots=True)
class MarginPolicy:
    initial_ratio: Decimal = Decimal("0.50")
    maintenance_ratio: Decimal = Decimal("0.30")

    def __post_init__(self) -> None:
        if not (ZERO < self.maintenance_ratio <= self.initial_ratio <= 1):
            raise LedgerInputError("margin ratios must satisfy 0 < maintenance <= initial <= 1")


REG_T = MarginPolicy()


@dataclass(frozen=True, slots=True)
class Valuation:
    cash: Decimal
    long_market_value: Decimal
    short_market_value: Decimal  # a positive figure

    @property
    def equity(self) -> Decimal:
        return self.cash + self.long_market_value - self.short_market_value

    @property
    def gross_market_value(self) -> Decimal:
        return self.long_market_value + self.short_market_value


def value_positions(cash: Decimal, positions: Iterable[Position], marks: Mapping[str, Decimal]) -> Valuation:
    long_mv = short_mv = ZERO
    for position in positions:
        mark = marks.get(position.symbol, position.avg_cost)
        value = quantize_cash(position.qty * mark)
        if value > 0:
            long_mv += value
        else:
            short_mv -= value
    return Valuation(cash, long_mv, short_mv)


def initial_requirement(valuation: Valuation, policy: MarginPolicy = REG_T) -> Decimal:
    return quantize_cash(valuation.gross_market_value * policy.initial_ratio)


def maintenance_requirement(valuation: Valuation, policy: MarginPolicy = REG_T) -> Decimal:
    return quantize_cash(valuation.gross_market_value * policy.maintenance_ratio)


def margin_buying_power(
    balance: CashBalance, positions: Iterable[Position], marks: Mapping[str, Decimal], policy: MarginPolicy = REG_T
) -> Decimal:
    valuation = value_positions(balance.cash, positions, marks)
    excess = valuation.equity - initial_requirement(valuation, policy)
    return max(ZERO, floor_cash(excess / policy.initial_ratio) - balance.blocked)


def margin_call_amount(
    balance: CashBalance, positions: Iterable[Position], marks: Mapping[str, Decimal], policy: MarginPolicy = REG_T
) -> Decimal:
    """How much equity is missing to meet maintenance (0 when the account is not in a margin call)."""
    valuation = value_positions(balance.cash, positions, marks)
    return max(ZERO, maintenance_requirement(valuation, policy) - valuation.equity)


def buying_power(
    account_type: AccountType,
    balance: CashBalance,
    positions: Iterable[Position] = (),
    marks: Mapping[str, Decimal] | None = None,
    policy: MarginPolicy = REG_T,
) -> Decimal:
    if account_type is AccountType.CASH:
        return max(ZERO, balance.available)
    return margin_buying_power(balance, positions, marks or {}, policy)


def withdrawable(
    account_type: AccountType,
    balance: CashBalance,
    positions: Iterable[Position] = (),
    marks: Mapping[str, Decimal] | None = None,
    policy: MarginPolicy = REG_T,
) -> Decimal:
    """Cash that may leave the account. Cash accounts: free cash. Margin accounts: free cash, but never so much
    that equity falls below the initial requirement of the positions and open orders (short-sale proceeds
    and borrowed money are not the customer's to withdraw)."""
    if account_type is AccountType.CASH:
        return max(ZERO, balance.available)
    valuation = value_positions(balance.cash, positions, marks or {})
    excess = valuation.equity - initial_requirement(valuation, policy) - balance.blocked * policy.initial_ratio
    return max(ZERO, min(balance.available, floor_cash(excess)))
