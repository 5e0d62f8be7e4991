"""Double-entry journal: an entry is a set of one-sided lines whose debits equal its credits.

Chart of accounts (per customer account, from the customer's point of view):
- ``cash:<CCY>``           asset; debit = cash in
- ``securities:<SYMBOL>``  asset at cost; debit = long position bought (quantity > 0), credit = sold/shorted
- ``external:bank``        the outside world money comes from / goes to
- ``equity:realized_pnl``  credit = gain, debit = loss

Entries are validated on construction, so an unbalanced entry cannot exist, let alone be written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from ledger.errors import InvalidAmount, UnbalancedEntry
from ledger.money import CASH_QUANTUM, QTY_QUANTUM, ZERO

EXTERNAL_BANK = "external:bank"
REALIZED_PNL = "equity:realized_pnl"


def cash_account(currency: str) -> str:
    return f"cash:{currency}"


def securities_account(symbol: str) -> str:
    return f"securities:{symbol}"


@dataclass(frozen=True, slots=True)
class Posting:
    """One journal line: a debit or a credit (never both), optionally moving a quantity of shares."""

    ledger_account: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    quantity: Decimal = ZERO  # signed share movement for securities lines

    def __post_init__(self) -> None:
        for name, value in (("debit", self.debit), ("credit", self.credit)):
            if not value.is_finite() or value < 0 or value != value.quantize(CASH_QUANTUM):
                raise InvalidAmount(value, f"{name} must be a non-negative amount with at most 4 decimals")
        if self.debit > 0 and self.credit > 0:
            raise InvalidAmount((self.debit, self.credit), "a line is either a debit or a credit")
        if not self.quantity.is_finite() or self.quantity != self.quantity.quantize(QTY_QUANTUM):
            raise InvalidAmount(self.quantity, "quantity must have at most 4 decimals")

    @property
    def net(self) -> Decimal:
        """Debit-positive signed amount."""
        return self.debit - self.credit


def debit(ledger_account: str, amount: Decimal, quantity: Decimal = ZERO) -> Posting:
    """A debit of ``amount``; a negative amount becomes the equivalent credit."""
    if amount < 0:
        return Posting(ledger_account, credit=-amount, quantity=quantity)
    return Posting(ledger_account, debit=amount, quantity=quantity)


def credit(ledger_account: str, amount: Decimal, quantity: Decimal = ZERO) -> Posting:
    return debit(ledger_account, -amount, quantity)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    kind: str  # deposit, withdrawal, fill
    reference: str  # idempotency key, exec id
    lines: tuple[Posting, ...]

    def __post_init__(self) -> None:
        debits = sum((line.debit for line in self.lines), ZERO)
        credits = sum((line.credit for line in self.lines), ZERO)
        if debits != credits:
            raise UnbalancedEntry(debits, credits)
        if not self.lines:
            raise UnbalancedEntry(ZERO, ZERO)

    @classmethod
    def of(cls, kind: str, reference: str, lines: Iterable[Posting]) -> JournalEntry:
        """Build an entry, dropping zero lines (a fill with no realized P&L has no P&L line)."""
        kept = tuple(line for line in lines if line.debit or line.credit or line.quantity)
        return cls(kind, reference, kept)

    @property
    def total(self) -> Decimal:
        return sum((line.debit for line in self.lines), ZERO)

    def net_of(self, ledger_account: str) -> Decimal:
        return sum((line.net for line in self.lines if line.ledger_account == ledger_account), ZERO)


def deposit_entry(amount: Decimal, currency: str, reference: str) -> JournalEntry:
    return JournalEntry.of("deposit", reference, [debit(cash_account(currency), amount), credit(EXTERNAL_BANK, amount)])


def withdrawal_entry(amount: Decimal, currency: str, reference: str) -> JournalEntry:
    return JournalEntry.of(
        "withdrawal", reference, [credit(cash_account(currency), amount), debit(EXTERNAL_BANK, amount)]
    )


def trial_balance(entries: Iterable[JournalEntry]) -> Mapping[str, Decimal]:
    """Net (debit-positive) balance of every ledger account: replaying the journal reproduces balances."""
    balances: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for entry in entries:
        for line in entry.lines:
            balances[line.ledger_account] += line.net
    return dict(balances)


def share_balances(entries: Iterable[JournalEntry]) -> Mapping[str, Decimal]:
    """Net quantity of every securities account."""
    quantities: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for entry in entries:
        for line in entry.lines:
            if line.quantity:
                quantities[line.ledger_account] += line.quantity
    return dict(quantities)
