"""Applying a fill: cash, holdings quantity, cost basis / average cost and realized P&L, as one balanced entry.

A position carries its cost basis as money (the book value of its ``securities:<SYMBOL>`` ledger account),
so the journal and the holding can never drift apart through rounding of the average cost; the average cost
is derived from it. Short positions (margin accounts) carry the proceeds of the short sale as their basis.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from ledger.errors import InsufficientFunds, InsufficientShares, InvalidAmount, ReservationError
from ledger.money import ZERO, floor_cash, quantize_cash, quantize_price
from ledger.postings import REALIZED_PNL, JournalEntry, Posting, cash_account, credit, debit, securities_account
from ledger.reservations import CashBalance, OrderReservation


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"
    SELL_SHORT = "sell_short"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class AccountType(StrEnum):
    CASH = "cash"
    MARGIN = "margin"


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    qty: Decimal = ZERO  # signed: negative is short
    cost_basis: Decimal = ZERO  # book value, always >= 0; its sign follows qty
    realized_pnl: Decimal = ZERO
    blocked_qty: Decimal = ZERO

    @property
    def avg_cost(self) -> Decimal:
        return quantize_price(self.cost_basis / abs(self.qty)) if self.qty else ZERO


@dataclass(frozen=True, slots=True)
class Fill:
    side: Side
    qty: Decimal  # LastQty
    price: Decimal  # LastPx
    reference: str  # the execution id: one fill, one journal entry

    def __post_init__(self) -> None:
        if not self.qty.is_finite() or self.qty <= 0:
            raise InvalidAmount(self.qty, "fill quantity must be positive")
        if not self.price.is_finite() or self.price <= 0:
            raise InvalidAmount(self.price, "fill price must be positive")

    @property
    def notional(self) -> Decimal:
        return floor_cash(self.qty * self.price)


@dataclass(frozen=True, slots=True)
class FillOutcome:
    cash: CashBalance
    position: Position
    reservation: OrderReservation
    entry: JournalEntry
    realized_pnl: Decimal


def apply_fill(
    *,
    cash: CashBalance,
    position: Position,
    reservation: OrderReservation,
    fill: Fill,
    account_type: AccountType,
) -> FillOutcome:
    if fill.side is Side.SELL_SHORT and account_type is AccountType.CASH:
        raise ReservationError("short sale on a cash account")
    if fill.qty > reservation.leaves_qty:
        raise ReservationError(f"fill of {fill.qty} exceeds leaves {reservation.leaves_qty}")

    notional = fill.notional
    remaining, release = reservation.on_fill(fill.qty, notional)
    old_qty, sign = position.qty, fill.side.sign
    closing = min(fill.qty, abs(old_qty)) if old_qty and (old_qty > 0) != (sign > 0) else ZERO
    opening = fill.qty - closing
    notional_close = notional if opening == 0 else floor_cash(closing * fill.price)
    notional_open = notional - notional_close
    if closing == 0:
        basis_close = ZERO
    elif closing == abs(old_qty):
        basis_close = position.cost_basis
    else:
        basis_close = quantize_cash(position.cost_basis * closing / abs(old_qty))
    # long sold: proceeds − cost; short covered: short proceeds − cost to cover
    realized = notional_close - basis_close if sign < 0 else basis_close - notional_close

    new_qty = old_qty + sign * fill.qty
    # the constructor, not ``dataclasses.replace`` (a generic copy per fill): every field is set here
    new_position = Position(position.symbol, new_qty, position.cost_basis - basis_close + notional_open,
                            position.realized_pnl + realized, position.blocked_qty - release.shares)
    new_cash = CashBalance(cash.cash - sign * notional, cash.blocked - release.cash, cash.currency)

    securities = securities_account(position.symbol)
    lines: list[Posting] = [debit(cash_account(cash.currency), -sign * notional)]
    if closing:
        lines.append(debit(securities, sign * basis_close, quantity=sign * closing))
    if opening:
        lines.append(debit(securities, sign * notional_open, quantity=sign * opening))
    lines.append(credit(REALIZED_PNL, realized))
    entry = JournalEntry.of("fill", fill.reference, lines)

    if account_type is AccountType.CASH:
        if new_position.qty < 0 or new_position.qty - new_position.blocked_qty < 0:
            raise InsufficientShares(symbol=position.symbol, available=position.qty - position.blocked_qty,
                                     requested=fill.qty)
        if new_cash.available < 0:
            raise InsufficientFunds(available=cash.available + release.cash, requested=notional,
                                    currency=cash.currency)
    if new_position.blocked_qty < 0 or new_cash.blocked < 0:
        raise ReservationError("released more than was blocked")
    return FillOutcome(new_cash, new_position, remaining, entry, realized)
