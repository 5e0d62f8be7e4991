"""Ledger errors. Each carries the figures a caller needs to answer clearly (REST body, FIX reject Text).

Three roots, as asyncpg does: the request was refused by a ledger rule (``LedgerRefusal``), the caller sent
something malformed (``LedgerInputError``), or the ledger found itself inconsistent (``LedgerInvariantError``).
"""

from __future__ import annotations

from decimal import Decimal


class LedgerError(Exception):
    """Root of every ledger error."""


class LedgerRefusal(LedgerError):
    """A well-formed request the ledger's rules refuse (funds, shares, state)."""


class LedgerInputError(LedgerError, ValueError):
    """Malformed input: amounts, quantities, identifiers."""


class LedgerInvariantError(LedgerError):
    """The ledger would break one of its own invariants: a bug, never the caller's fault."""


class InsufficientFunds(LedgerRefusal):
    def __init__(self, *, available: Decimal, requested: Decimal, currency: str = "USD") -> None:
        self.available, self.requested, self.currency = available, requested, currency
        super().__init__(f"insufficient funds: available {available} {currency}, requested {requested} {currency}")


class InsufficientShares(LedgerRefusal):
    def __init__(self, *, symbol: str, available: Decimal, requested: Decimal) -> None:
        self.symbol, self.available, self.requested = symbol, available, requested
        super().__init__(f"insufficient shares of {symbol}: available {available}, requested {requested}")


class AccountNotFound(LedgerRefusal):
    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        super().__init__(f"account not found: {account_id}")


class AccountNotActive(LedgerRefusal):
    def __init__(self, account_id: str, status: str) -> None:
        self.account_id, self.status = account_id, status
        super().__init__(f"account {account_id} is {status}")


class IdempotencyConflict(LedgerRefusal):
    """The idempotency key was already used with a different request body."""

    def __init__(self, scope: str, key: str) -> None:
        self.scope, self.key = scope, key
        super().__init__(f"idempotency key {key!r} was already used with a different request ({scope})")


class InvalidAmount(LedgerInputError):
    def __init__(self, value: object, reason: str) -> None:
        self.value, self.reason = value, reason
        super().__init__(f"invalid amount {value!r}: {reason}")


class InvalidQuantity(LedgerInputError):
    def __init__(self, value: object, reason: str) -> None:
        self.value, self.reason = value, reason
        super().__init__(f"invalid quantity {value!r}: {reason}")


class UnbalancedEntry(LedgerInvariantError):
    def __init__(self, debits: Decimal, credits: Decimal) -> None:
        self.debits, self.credits = debits, credits
        super().__init__(f"journal entry does not balance: debits {debits} != credits {credits}")


class ReservationError(LedgerInvariantError):
    """Releasing more than was blocked, or a fill larger than the order's leaves quantity."""
