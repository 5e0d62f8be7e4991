"""Blocking and releasing buying power (buys, short sells) and shares (long sells) for open orders.

Release rule on a partial fill (why it is not a plain pro rata): the order releases, from its confirmed part
``max(fill notional, floor(reserved · fill_qty / leaves_qty))``, capped at what it still holds, and
everything on its last fill or on cancel. Rounding the pro-rata share DOWN keeps the remaining block at
or above the remaining exposure (leaves · limit), and releasing at least the fill's notional means a
fill at or inside the limit never eats into the account's free cash.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from ledger.errors import InsufficientFunds, InsufficientShares, ReservationError
from ledger.money import ZERO, ceil_cash, floor_cash


# The balances and reservations of the order path are rebuilt with their constructors, not
# ``dataclasses.replace`` (a generic Python-level copy, several per lifecycle): a new field must be carried
# over there too (tests/unit/ledger/test_ledger_reservations.py pins the field lists).
@dataclass(frozen=True, slots=True)
class CashBalance:
    cash: Decimal
    blocked: Decimal = ZERO
    currency: str = "USD"

    @property
    def available(self) -> Decimal:
        return self.cash - self.blocked


@dataclass(frozen=True, slots=True)
class ShareBalance:
    symbol: str
    qty: Decimal
    blocked_qty: Decimal = ZERO

    @property
    def available(self) -> Decimal:
        return self.qty - self.blocked_qty


def notional_to_block(qty: Decimal, price: Decimal) -> Decimal:
    """Cash to block for an order of ``qty`` at (limit or collar) ``price``: rounded up, never short."""
    return ceil_cash(qty * price)


def block_cash(balance: CashBalance, amount: Decimal, *, buying_power: Decimal | None = None) -> CashBalance:
    """Block ``amount``; the limit is free cash for cash accounts, or the margin buying power if given."""
    if amount < 0:
        raise ReservationError(f"cannot block a negative amount {amount}")
    limit = balance.available if buying_power is None else buying_power
    if amount > limit:
        raise InsufficientFunds(available=max(limit, ZERO), requested=amount, currency=balance.currency)
    return CashBalance(balance.cash, balance.blocked + amount, balance.currency)


def release_cash(balance: CashBalance, amount: Decimal) -> CashBalance:
    if amount < 0 or amount > balance.blocked:
        raise ReservationError(f"cannot release {amount}: {balance.blocked} blocked")
    return CashBalance(balance.cash, balance.blocked - amount, balance.currency)


def block_shares(balance: ShareBalance, qty: Decimal) -> ShareBalance:
    if qty < 0:
        raise ReservationError(f"cannot block a negative quantity {qty}")
    if qty > balance.available:
        raise InsufficientShares(symbol=balance.symbol, available=max(balance.available, ZERO), requested=qty)
    return ShareBalance(balance.symbol, balance.qty, balance.blocked_qty + qty)


def release_shares(balance: ShareBalance, qty: Decimal) -> ShareBalance:
    if qty < 0 or qty > balance.blocked_qty:
        raise ReservationError(f"cannot release {qty} shares of {balance.symbol}: {balance.blocked_qty} blocked")
    return ShareBalance(balance.symbol, balance.qty, balance.blocked_qty - qty)


@dataclass(frozen=True, slots=True)
class Release:
    cash: Decimal = ZERO
    shares: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class OrderReservation:
    """What an open order holds for its leaves quantity: cash (buys, short sells) or shares (long sells).

    ``cash`` and ``shares`` are everything held; ``pending_cash`` / ``pending_shares`` is the part of it
    blocked ahead for a pending replace that grows the order. Fills release from the confirmed part only
    (the extra is not the leaves' exposure until the exchange confirms); a reject gives the extra back.
    """

    leaves_qty: Decimal
    cash: Decimal = ZERO
    shares: Decimal = ZERO
    pending_cash: Decimal = ZERO
    pending_shares: Decimal = ZERO

    @classmethod
    def for_buy(cls, qty: Decimal, price: Decimal) -> OrderReservation:
        return cls(leaves_qty=qty, cash=notional_to_block(qty, price))

    @classmethod
    def for_sell(cls, qty: Decimal) -> OrderReservation:
        return cls(leaves_qty=qty, shares=qty)

    @property
    def is_empty(self) -> bool:
        return self.leaves_qty == 0 and self.cash == 0 and self.shares == 0

    @property
    def confirmed_cash(self) -> Decimal:
        return self.cash - self.pending_cash

    @property
    def confirmed_shares(self) -> Decimal:
        return self.shares - self.pending_shares

    def with_pending(self, cash: Decimal = ZERO, shares: Decimal = ZERO) -> OrderReservation:
        """Add an extra blocked ahead for a pending replace (``cash``/``shares`` come on top of what is held)."""
        if cash < 0 or shares < 0:
            raise ReservationError(f"a pending extra cannot be negative: {cash} cash, {shares} shares")
        return replace(self, cash=self.cash + cash, shares=self.shares + shares,
                       pending_cash=self.pending_cash + cash, pending_shares=self.pending_shares + shares)

    def on_fill(self, fill_qty: Decimal, fill_notional: Decimal) -> tuple[OrderReservation, Release]:
        if fill_qty <= 0 or fill_qty > self.leaves_qty:
            raise ReservationError(f"fill of {fill_qty} against leaves {self.leaves_qty}")
        leaves_after = self.leaves_qty - fill_qty
        if leaves_after == 0:
            return OrderReservation(ZERO), Release(self.cash, self.shares)
        confirmed = self.confirmed_cash
        pro_rata = floor_cash(confirmed * fill_qty / self.leaves_qty)
        cash_release = min(confirmed, max(fill_notional, pro_rata)) if confirmed > 0 else ZERO
        share_release = min(max(self.confirmed_shares, ZERO), fill_qty)
        remaining = OrderReservation(leaves_after, self.cash - cash_release, self.shares - share_release,
                                     self.pending_cash, self.pending_shares)
        return remaining, Release(cash_release, share_release)

    def on_replace_rejected(self, exposure_cash: Decimal | None = None) -> tuple[OrderReservation, Release]:
        """The exchange refused a pending replace: the pending extra goes back, and so does anything held
        above the unchanged order's exposure (``exposure_cash``: leaves × limit, as a new order would block;
        None when there is no limit to value it at; shares: the leaves quantity)."""
        keep_cash = self.confirmed_cash
        if exposure_cash is not None:
            keep_cash = min(keep_cash, max(exposure_cash, ZERO))
        keep_shares = min(self.confirmed_shares, self.leaves_qty) if self.shares else ZERO
        kept = OrderReservation(self.leaves_qty, keep_cash, keep_shares)
        return kept, Release(self.cash - keep_cash, self.shares - keep_shares)

    def on_cancel(self) -> tuple[OrderReservation, Release]:
        """Cancel, expire or reject: everything still held goes back."""
        return OrderReservation(ZERO), Release(self.cash, self.shares)

    def resized(self, new_leaves: Decimal, new_cash: Decimal, new_shares: Decimal) -> tuple[
            OrderReservation, Decimal, Decimal]:
        """A replace: the new reservation and the (signed) extra cash and shares to block (negative: release)."""
        return (OrderReservation(new_leaves, new_cash, new_shares), new_cash - self.cash, new_shares - self.shares)
