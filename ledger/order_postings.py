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

import json
import uuid
from dataclasses import dataclass, replace

from ledger.fills import AccountType, Fill, FillOutcome, Position, apply_fill
from ledger.journal_store import (
    Conn,
    LockedAccount,
    insert_entry,
    jsonable,
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
    conn: Conn, account: LockedAccount, symbol: str, reservation: OrderReservation,
    balance: CashBalance | None = None,
) -> CashBalance:
    """Block what a new order holds. Cash accounts: refused beyond free cash (InsufficientFunds); margin
    accounts: the caller's risk check against buying power has decided. Shares: refused beyond the free
    holding (InsufficientShares) on any account. ``balance``: the cash row as this transaction already
    locked and read it (saves reading it again)."""
    if balance is None:
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
    # The exactly-once check, the cash row (locked) and the holding in one round trip when the cash row
    # exists (the usual case). The holding row needs no lock of its own: the caller holds the account row.
    row = await conn.fetchrow(
        "SELECT c.amount, c.blocked, h.qty, h.cost_basis, h.realized_pnl, h.blocked_qty, "
        "(SELECT true FROM journal_entries j WHERE j.account_id = $1 AND j.kind = 'fill' AND j.reference = $3) "
        "AS already FROM cash_balances c LEFT JOIN holdings h ON h.account_id = c.account_id AND h.symbol = $4 "
        "WHERE c.account_id = $1 AND c.currency = $2 FOR UPDATE OF c",
        account.account_id, account.currency, fill.reference, symbol,
    )
    if row is None:
        if await conn.fetchval(
            "SELECT true FROM journal_entries WHERE account_id = $1 AND kind = 'fill' AND reference = $2",
            account.account_id, fill.reference,
        ):
            return None
        cash = await lock_cash(conn, account)
        position = await lock_position(conn, account, symbol)
    elif row["already"]:
        return None
    else:
        cash = CashBalance(row["amount"], row["blocked"], account.currency)
        position = Position(symbol) if row["qty"] is None else Position(
            symbol, row["qty"], row["cost_basis"], row["realized_pnl"], row["blocked_qty"])
    outcome = apply_fill(cash=cash, position=position, reservation=reservation, fill=fill,
                         account_type=account.account_type)
    entry_id, created_at = await insert_entry(conn, account.account_id, outcome.entry)
    # the cash row, the holding and the outbox event in one round trip
    p, c = outcome.position, outcome.cash
    await conn.execute(
        "WITH c AS (UPDATE cash_balances SET amount = $3, blocked = $4, updated_at = now() "
        "WHERE account_id = $1 AND currency = $2), "
        "h AS (INSERT INTO holdings (account_id, symbol, account_type, qty, blocked_qty, avg_cost, cost_basis, "
        "realized_pnl) VALUES ($1, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (account_id, symbol) DO UPDATE SET "
        "qty = EXCLUDED.qty, blocked_qty = EXCLUDED.blocked_qty, avg_cost = EXCLUDED.avg_cost, "
        "cost_basis = EXCLUDED.cost_basis, realized_pnl = EXCLUDED.realized_pnl, updated_at = now()) "
        "INSERT INTO outbox (event_id, event_type, account_id, payload, occurred_at) "
        "VALUES ($12, 'fill.booked', $1, $13::jsonb, $14)",
        account.account_id, c.currency, c.cash, c.blocked, symbol, account.account_type.value, p.qty,
        p.blocked_qty, p.avg_cost, p.cost_basis, p.realized_pnl, uuid.uuid4(), json.dumps(jsonable({
            "entry_id": entry_id, "exec_id": fill.reference, "symbol": symbol, "side": fill.side.value,
            "last_qty": fill.qty, "last_px": fill.price, "notional": fill.notional,
            "realized_pnl": outcome.realized_pnl, "cash": c.cash, "blocked": c.blocked,
            "position_qty": p.qty, "avg_cost": p.avg_cost,
        })), created_at,
    )
    return BookedFill(entry_id, outcome)
