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
from decimal import Decimal

from ledger.fills import AccountType, Fill, FillOutcome, Position, apply_fill
from ledger.journal_store import (
    ENTRY_CTE,
    Conn,
    LockedAccount,
    entry_args,
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

__all__ = ["BookedFill", "block_reservation", "cash_after_block", "post_fill", "release_reservation"]


@dataclass(frozen=True, slots=True)
class BookedFill:
    entry_id: int
    outcome: FillOutcome


def cash_after_block(account: LockedAccount, balance: CashBalance, amount: Decimal) -> CashBalance:
    """The cash row once ``amount`` is blocked (pure; for a caller that writes the row in its own statement).
    Cash accounts: refused beyond free cash (InsufficientFunds); margin accounts: risk has decided."""
    unlimited = account.account_type is AccountType.MARGIN
    return block_cash(balance, amount, buying_power=amount if unlimited else None)


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
        balance = cash_after_block(account, balance, reservation.cash)
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
    # the journal entry and its lines, the cash row, the holding and the outbox event: one round trip
    p, c = outcome.position, outcome.cash
    entry_id = await conn.fetchval(
        ENTRY_CTE + ", "
        "c AS (UPDATE cash_balances SET amount = $9, blocked = $10, updated_at = now() "
        "WHERE account_id = $1 AND currency = $8), "
        "h AS (INSERT INTO holdings (account_id, symbol, account_type, qty, blocked_qty, avg_cost, cost_basis, "
        "realized_pnl) VALUES ($1, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (account_id, symbol) DO UPDATE "
        "SET qty = EXCLUDED.qty, blocked_qty = EXCLUDED.blocked_qty, avg_cost = EXCLUDED.avg_cost, "
        "cost_basis = EXCLUDED.cost_basis, realized_pnl = EXCLUDED.realized_pnl, updated_at = now()), "
        "o AS (INSERT INTO outbox (event_id, event_type, account_id, payload, occurred_at) "
        "SELECT $18, 'fill.booked', $1, jsonb_set($19::jsonb, '{entry_id}', to_jsonb(e.entry_id)), e.created_at "
        "FROM e) "
        "SELECT entry_id FROM e",
        *entry_args(account.account_id, outcome.entry), c.currency, c.cash, c.blocked, symbol,
        account.account_type.value, p.qty, p.blocked_qty, p.avg_cost, p.cost_basis, p.realized_pnl, uuid.uuid4(),
        json.dumps(jsonable({
            "entry_id": None, "exec_id": fill.reference, "symbol": symbol, "side": fill.side.value,
            "last_qty": fill.qty, "last_px": fill.price, "notional": fill.notional,
            "realized_pnl": outcome.realized_pnl, "cash": c.cash, "blocked": c.blocked,
            "position_qty": p.qty, "avg_cost": p.avg_cost,
        })),
    )
    return BookedFill(entry_id, outcome)
