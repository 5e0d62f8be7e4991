"""The ledger side of the order path, for the order-entry shell to call INSIDE its own transaction.

Typical use (one transaction per FIX event, the account row locked first)::

    async with pool.acquire() as conn, conn.transaction():
        account = await lock_account(conn, account_id)
        ... risk decides, giving an OrderReservation ...
        await block_reservation(conn, account, symbol, reservation)       # NewOrderSingle accepted
        ...
        booked = await post_fill(conn, account, symbol, reservation, fill)  # ExecutionReport with LastQty
        ...
        await release_reservation(conn, account, symbol, release)          # canceled / expired / rejected

The caller keeps the order's reservation (orders.reserved_cash / reserved_qty / leaves_qty) and stores
the one these functions hand back. Cash accounts are held to their CHECK constraints here too, with the
domain's clear errors rather than a constraint violation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ledger.fills import AccountType, Fill, FillOutcome, apply_fill
from ledger.journal_store import (
    Conn,
    LockedAccount,
    append_outbox,
    insert_entry,
    lock_cash,
    lock_position,
    save_cash,
    save_position,
)
from ledger.reservations import (
    CashBalance,
    OrderReservation,
    Release,
    ShareBalance,
    block_cash,
    block_shares,
    release_cash,
    release_shares,
)

__all__ = ["BookedFill", "block_reservation", "post_fill", "release_reservation"]


@dataclass(frozen=True, slots=True)
class BookedFill:
    entry_id: int
    outcome: FillOutcome


async def block_reservation(
    conn: Conn, account: LockedAccount, symbol: str, reservation: OrderReservation
) -> CashBalance:
    """Block what a new order holds. Cash accounts: refused beyond free cash (InsufficientFunds); margin
    accounts: the caller's risk check against buying power has decided. Shares: refused beyond the free
    holding (InsufficientShares) on any account."""
    balance = await lock_cash(conn, account)
    if reservation.cash:
        unlimited = account.account_type is AccountType.MARGIN
        balance = block_cash(balance, reservation.cash, buying_power=reservation.cash if unlimited else None)
        await save_cash(conn, account.account_id, balance)
    if reservation.shares:
        position = await lock_position(conn, account, symbol)
        shares = block_shares(ShareBalance(symbol, position.qty, position.blocked_qty), reservation.shares)
        await save_position(conn, account, replace(position, blocked_qty=shares.blocked_qty))
    return balance


async def release_reservation(conn: Conn, account: LockedAccount, symbol: str, release: Release) -> CashBalance:
    """Give back what an order no longer needs (cancel, expiry, reject, a replace that shrinks it)."""
    balance = await lock_cash(conn, account)
    if release.cash:
        balance = release_cash(balance, release.cash)
        await save_cash(conn, account.account_id, balance)
    if release.shares:
        position = await lock_position(conn, account, symbol)
        shares = release_shares(ShareBalance(symbol, position.qty, position.blocked_qty), release.shares)
        await save_position(conn, account, replace(position, blocked_qty=shares.blocked_qty))
    return balance


async def post_fill(
    conn: Conn, account: LockedAccount, symbol: str, reservation: OrderReservation, fill: Fill
) -> BookedFill | None:
    """Book a fill: cash, holding, released reservation, one balanced journal entry and an outbox event.

    ``fill.reference`` must be the execution's unique id: a fill already booked under it returns None and
    changes nothing, so a redelivered ExecutionReport is harmless.
    """
    already = await conn.fetchval(
        "SELECT entry_id FROM journal_entries WHERE account_id = $1 AND kind = 'fill' AND reference = $2",
        account.account_id, fill.reference,
    )
    if already is not None:
        return None
    cash = await lock_cash(conn, account)
    position = await lock_position(conn, account, symbol)
    outcome = apply_fill(cash=cash, position=position, reservation=reservation, fill=fill,
                         account_type=account.account_type)
    entry_id, created_at = await insert_entry(conn, account.account_id, outcome.entry)
    await save_cash(conn, account.account_id, outcome.cash)
    await save_position(conn, account, outcome.position)
    await append_outbox(conn, "fill.booked", account.account_id, {
        "entry_id": entry_id, "exec_id": fill.reference, "symbol": symbol, "side": fill.side.value,
        "last_qty": fill.qty, "last_px": fill.price, "notional": fill.notional,
        "realized_pnl": outcome.realized_pnl, "cash": outcome.cash.cash, "blocked": outcome.cash.blocked,
        "position_qty": outcome.position.qty, "avg_cost": outcome.position.avg_cost,
    }, created_at)
    return BookedFill(entry_id, outcome)
