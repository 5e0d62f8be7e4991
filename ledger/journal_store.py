"""Statements shared by every ledger transaction: lock rows, append journal entries and outbox events.

Each function takes a connection already inside a transaction; none commits.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg
import asyncpg.pool

from ledger.errors import AccountNotFound, LedgerInvariantError
from ledger.fills import AccountType, Position
from ledger.postings import JournalEntry
from ledger.reservations import CashBalance

# a plain connection or one borrowed from a pool, inside a transaction
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"


def one(row: asyncpg.Record | None) -> asyncpg.Record:
    """The row a statement must return (a RETURNING clause, a row locked a moment ago)."""
    if row is None:
        raise LedgerInvariantError("expected a row, got none")
    return row


@dataclass(frozen=True, slots=True)
class LockedAccount:
    account_id: str
    account_type: AccountType
    currency: str
    status: str
    short_selling_enabled: bool
    kill_switch: bool


async def lock_account(conn: Conn, account_id: str) -> LockedAccount:
    """Lock the account row for the rest of the transaction: the serialisation point of every change."""
    row = await conn.fetchrow(
        "SELECT account_type, currency, status, short_selling_enabled, kill_switch FROM accounts "
        "WHERE account_id = $1 FOR UPDATE",
        account_id,
    )
    if row is None:
        raise AccountNotFound(account_id)
    return LockedAccount(account_id, AccountType(row["account_type"]), row["currency"], row["status"],
                         row["short_selling_enabled"], row["kill_switch"])


async def lock_cash(conn: Conn, account: LockedAccount) -> CashBalance:
    """The account's cash balance row (created at zero if missing), locked."""
    query = "SELECT amount, blocked FROM cash_balances WHERE account_id = $1 AND currency = $2 FOR UPDATE"
    row = await conn.fetchrow(query, account.account_id, account.currency)
    if row is None:  # no race: the caller holds the account row lock
        await conn.execute(
            "INSERT INTO cash_balances (account_id, currency, account_type) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            account.account_id, account.currency, account.account_type.value,
        )
        row = one(await conn.fetchrow(query, account.account_id, account.currency))
    return CashBalance(row["amount"], row["blocked"], account.currency)


async def save_cash(conn: Conn, account_id: str, balance: CashBalance) -> None:
    await conn.execute(
        "UPDATE cash_balances SET amount = $3, blocked = $4, updated_at = now() "
        "WHERE account_id = $1 AND currency = $2",
        account_id, balance.currency, balance.cash, balance.blocked,
    )


async def lock_position(conn: Conn, account: LockedAccount, symbol: str) -> Position:
    row = await conn.fetchrow(
        "SELECT qty, cost_basis, realized_pnl, blocked_qty FROM holdings WHERE account_id = $1 AND symbol = $2 "
        "FOR UPDATE",
        account.account_id, symbol,
    )
    if row is None:
        return Position(symbol)
    return Position(symbol, row["qty"], row["cost_basis"], row["realized_pnl"], row["blocked_qty"])


async def load_positions(conn: Conn, account_id: str) -> list[Position]:
    rows = await conn.fetch(
        "SELECT symbol, qty, cost_basis, realized_pnl, blocked_qty FROM holdings WHERE account_id = $1", account_id
    )
    return [Position(r["symbol"], r["qty"], r["cost_basis"], r["realized_pnl"], r["blocked_qty"]) for r in rows]


async def save_position(conn: Conn, account: LockedAccount, position: Position) -> None:
    await conn.execute(
        "INSERT INTO holdings (account_id, symbol, account_type, qty, blocked_qty, avg_cost, cost_basis, realized_pnl) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (account_id, symbol) DO UPDATE SET qty = EXCLUDED.qty, blocked_qty = EXCLUDED.blocked_qty, "
        "avg_cost = EXCLUDED.avg_cost, cost_basis = EXCLUDED.cost_basis, realized_pnl = EXCLUDED.realized_pnl, "
        "updated_at = now()",
        account.account_id, position.symbol, account.account_type.value, position.qty, position.blocked_qty,
        position.avg_cost, position.cost_basis, position.realized_pnl,
    )


async def insert_entry(conn: Conn, account_id: str, entry: JournalEntry) -> tuple[int, datetime]:
    """Append a (balanced, by construction) journal entry and its lines, in one round trip; returns
    (entry id, created_at). The lines keep their order (``unnest WITH ORDINALITY``)."""
    row = one(await conn.fetchrow(ENTRY_CTE + " SELECT entry_id, created_at FROM e", *entry_args(account_id, entry)))
    return row["entry_id"], row["created_at"]


# A journal entry (CTE ``e``: entry_id, created_at) and its lines, for a statement that does more with it;
# parameters $1..$7 are ``entry_args``.
ENTRY_CTE = (
    "WITH e AS (INSERT INTO journal_entries (account_id, kind, reference) VALUES ($1, $2, $3) "
    "RETURNING entry_id, created_at), "
    "l AS (INSERT INTO journal_lines (entry_id, account_id, ledger_account, debit, credit, quantity) "
    "SELECT e.entry_id, $1, u.a, u.d, u.c, u.q FROM e, "
    "unnest($4::text[], $5::numeric[], $6::numeric[], $7::numeric[]) WITH ORDINALITY AS u(a, d, c, q, n) "
    "ORDER BY u.n)"
)


def entry_args(account_id: str, entry: JournalEntry) -> tuple[Any, ...]:
    lines = entry.lines
    return (account_id, entry.kind, entry.reference, [line.ledger_account for line in lines],
            [line.debit for line in lines], [line.credit for line in lines], [line.quantity for line in lines])


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # amounts travel as strings: no float ever touches them
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


async def append_outbox(
    conn: Conn, event_type: str, account_id: str | None, payload: dict[str, Any],
    occurred_at: datetime | None = None,
) -> uuid.UUID:
    event_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO outbox (event_id, event_type, account_id, payload, occurred_at) "
        "VALUES ($1, $2, $3, $4::jsonb, coalesce($5, now()))",
        event_id, event_type, account_id, json.dumps(jsonable(payload)), occurred_at,
    )
    return event_id
