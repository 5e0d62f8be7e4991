"""Read side of the REST API: asyncpg queries against the ledger tables (``ledger/tables.py``).

Writes never happen here; cash movements go through ``ledger.repository``. Every query that lists
rows is keyset-paginated on an indexed key and fetches ``limit + 1`` rows to know whether a next page
exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from gateway.api.pagination import Cursor
from gateway.api.valuation import Holding


@dataclass(frozen=True, slots=True)
class TokenGrant:
    token_id: str
    role: str
    account_ids: frozenset[str]


async def token_grant(pool: asyncpg.Pool, token_hash: str) -> TokenGrant | None:
    row = await pool.fetchrow(
        """
        SELECT t.token_id, t.role,
               coalesce(array_agg(a.account_id) FILTER (WHERE a.account_id IS NOT NULL), '{}') AS account_ids
        FROM api_tokens t LEFT JOIN api_token_accounts a ON a.token_id = t.token_id
        WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now()
        GROUP BY t.token_id, t.role
        """,
        token_hash,
    )
    if row is None:
        return None
    return TokenGrant(row["token_id"], row["role"], frozenset(row["account_ids"]))


_ACCOUNT_SELECT = """
    SELECT a.account_id, a.account_type, a.currency, a.status, a.owner_name, a.short_selling_enabled,
           a.kill_switch, a.margin_call_since, a.created_at,
           coalesce(c.amount, 0) AS cash, coalesce(c.blocked, 0) AS blocked,
           coalesce((SELECT array_agg(s.sender_comp_id ORDER BY s.sender_comp_id)
                     FROM fix_session_accounts s WHERE s.account_id = a.account_id), '{}') AS fix_sessions
    FROM accounts a
    LEFT JOIN cash_balances c ON c.account_id = a.account_id AND c.currency = a.currency
"""


async def account(pool: asyncpg.Pool, account_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(_ACCOUNT_SELECT + " WHERE a.account_id = $1", account_id)


async def account_exists(pool: asyncpg.Pool, account_id: str) -> bool:
    return bool(await pool.fetchval("SELECT EXISTS (SELECT 1 FROM accounts WHERE account_id = $1)", account_id))


async def accounts_page(
    pool: asyncpg.Pool, visible: frozenset[str] | None, after: str | None, limit: int
) -> list[asyncpg.Record]:
    """Accounts in id order after ``after``; ``visible`` None means every account (admin)."""
    return list(await pool.fetch(
        _ACCOUNT_SELECT + """
        WHERE ($1::text[] IS NULL OR a.account_id = ANY($1::text[]))
          AND ($2::text IS NULL OR a.account_id > $2)
        ORDER BY a.account_id LIMIT $3
        """,
        sorted(visible) if visible is not None else None, after, limit + 1,
    ))


def _holding(r: asyncpg.Record) -> Holding:
    return Holding(r["symbol"], r["qty"], r["blocked_qty"], r["avg_cost"], r["cost_basis"], r["realized_pnl"])


async def holdings(pool: asyncpg.Pool, account_ids: Sequence[str]) -> dict[str, list[Holding]]:
    """Open positions (non-zero quantity) of the accounts, by account, in symbol order."""
    rows = await pool.fetch(
        """
        SELECT account_id, symbol, qty, blocked_qty, avg_cost, cost_basis, realized_pnl FROM holdings
        WHERE account_id = ANY($1::text[]) AND qty <> 0
        ORDER BY account_id, symbol
        """,
        list(account_ids),
    )
    out: dict[str, list[Holding]] = {a: [] for a in account_ids}
    for r in rows:
        out[r["account_id"]].append(_holding(r))
    return out


async def holding(pool: asyncpg.Pool, account_id: str, symbol: str) -> Holding | None:
    r = await pool.fetchrow(
        "SELECT symbol, qty, blocked_qty, avg_cost, cost_basis, realized_pnl FROM holdings "
        "WHERE account_id = $1 AND symbol = $2 AND qty <> 0",
        account_id, symbol,
    )
    return _holding(r) if r else None


@dataclass(frozen=True, slots=True)
class RowFilter:
    symbol: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    statuses: tuple[str, ...] | None = None  # orders only


async def orders_page(
    pool: asyncpg.Pool, account_id: str, where: RowFilter, cursor: Cursor | None, limit: int
) -> list[asyncpg.Record]:
    return list(await pool.fetch(
        """
        SELECT * FROM orders
        WHERE account_id = $1
          AND ($2::text IS NULL OR symbol = $2)
          AND ($3::timestamptz IS NULL OR created_at >= $3)
          AND ($4::timestamptz IS NULL OR created_at < $4)
          AND ($5::text[] IS NULL OR status = ANY($5::text[]))
          AND ($6::timestamptz IS NULL OR (created_at, order_id) < ($6, $7::text))
        ORDER BY created_at DESC, order_id DESC
        LIMIT $8
        """,
        account_id, where.symbol, where.start, where.end,
        list(where.statuses) if where.statuses is not None else None,
        cursor.created_at if cursor else None, cursor.id if cursor else None, limit + 1,
    ))


async def order(pool: asyncpg.Pool, account_id: str, order_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM orders WHERE account_id = $1 AND order_id = $2", account_id, order_id)


async def fills_page(
    pool: asyncpg.Pool, account_id: str, where: RowFilter, cursor: Cursor | None, limit: int,
    order_id: str | None = None,
) -> list[asyncpg.Record]:
    """Executions that traded (last_qty > 0), newest first."""
    return list(await pool.fetch(
        """
        SELECT exec_id, venue_exec_id, order_id, account_id, exec_type, ord_status, symbol, side, last_qty,
               last_px, cum_qty, leaves_qty, avg_px, transact_time, created_at
        FROM executions
        WHERE account_id = $1 AND last_qty > 0
          AND ($2::text IS NULL OR symbol = $2)
          AND ($3::timestamptz IS NULL OR created_at >= $3)
          AND ($4::timestamptz IS NULL OR created_at < $4)
          AND ($5::text IS NULL OR order_id = $5)
          AND ($6::timestamptz IS NULL OR (created_at, exec_id) < ($6, $7::text))
        ORDER BY created_at DESC, exec_id DESC
        LIMIT $8
        """,
        account_id, where.symbol, where.start, where.end, order_id,
        cursor.created_at if cursor else None, cursor.id if cursor else None, limit + 1,
    ))


async def cash_movements_page(
    pool: asyncpg.Pool, account_id: str, kinds: Sequence[str], where: RowFilter,
    after: tuple[datetime, int] | None, limit: int,
) -> list[asyncpg.Record]:
    """Deposits and withdrawals from the journal, newest first: the amount is the entry's cash line."""
    return list(await pool.fetch(
        """
        SELECT e.entry_id AS movement_id, e.account_id, e.kind, e.reference AS idempotency_key, e.created_at,
               l.debit + l.credit AS amount, substr(l.ledger_account, length('cash:') + 1) AS currency
        FROM journal_entries e
        JOIN journal_lines l ON l.entry_id = e.entry_id AND l.ledger_account LIKE 'cash:%'
        WHERE e.account_id = $1 AND e.kind = ANY($2::text[])
          AND ($3::timestamptz IS NULL OR e.created_at >= $3)
          AND ($4::timestamptz IS NULL OR e.created_at < $4)
          AND ($5::timestamptz IS NULL OR (e.created_at, e.entry_id) < ($5, $6::bigint))
        ORDER BY e.created_at DESC, e.entry_id DESC
        LIMIT $7
        """,
        account_id, list(kinds), where.start, where.end, after[0] if after else None, after[1] if after else None,
        limit + 1,
    ))


async def ping(pool: asyncpg.Pool) -> None:
    await pool.fetchval("SELECT 1")
