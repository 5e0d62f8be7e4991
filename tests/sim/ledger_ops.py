"""``ledger.order_postings`` on the fake store: the same pure functions, the fake's rows instead of SQL.

``block`` / ``release`` / ``book_fill`` do what ``block_reservation`` / ``release_reservation`` /
``post_fill`` do around their statements: read the rows, call ``cash_after_block``, ``block_shares``,
``release_cash``, ``release_shares``, ``apply_fill``, write the rows back (and the journal entry).
"""

from __future__ import annotations

from dataclasses import replace

from ledger.fills import AccountType, Fill, FillOutcome, apply_fill
from ledger.journal_store import LockedAccount
from ledger.order_postings import cash_after_block
from ledger.reservations import OrderReservation, Release, ShareBalance, block_shares, release_cash, release_shares
from tests.sim.store import Txn


def locked(txn: Txn, account_id: str) -> LockedAccount:
    account_type = txn.t.account_types[account_id]
    return LockedAccount(account_id, account_type, "USD", "active", False, False)


def block(txn: Txn, account_id: str, symbol: str, reservation: OrderReservation) -> None:
    account = locked(txn, account_id)
    if reservation.cash:
        txn.t.cash[account_id] = cash_after_block(account, txn.t.cash[account_id], reservation.cash)
    if reservation.shares:
        position = txn.position(account_id, symbol)
        shares = block_shares(ShareBalance(symbol, position.qty, position.blocked_qty), reservation.shares)
        txn.t.holdings[(account_id, symbol)] = replace(position, blocked_qty=shares.blocked_qty)


def release(txn: Txn, account_id: str, symbol: str, what: Release) -> None:
    if what.cash:
        txn.t.cash[account_id] = release_cash(txn.t.cash[account_id], what.cash)
    if what.shares:
        position = txn.position(account_id, symbol)
        shares = release_shares(ShareBalance(symbol, position.qty, position.blocked_qty), what.shares)
        txn.t.holdings[(account_id, symbol)] = replace(position, blocked_qty=shares.blocked_qty)


def book_fill(txn: Txn, account_id: str, symbol: str, reservation: OrderReservation, fill: Fill,
              ) -> FillOutcome | None:
    """``post_fill``: None when the journal already holds a fill under ``fill.reference``."""
    if (account_id, fill.reference) in txn.t.fill_refs:
        return None
    account_type: AccountType = txn.t.account_types[account_id]
    outcome = apply_fill(cash=txn.t.cash[account_id], position=txn.position(account_id, symbol),
                         reservation=reservation, fill=fill, account_type=account_type)
    txn.t.cash[account_id] = outcome.cash
    txn.t.holdings[(account_id, symbol)] = outcome.position
    txn.t.journal.append((account_id, outcome.entry))
    txn.t.fill_refs.add((account_id, fill.reference))
    return outcome
