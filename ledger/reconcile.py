"""Replay the journal and compare it with the stored balances and holdings (the ledger's audit of itself).

Invariants checked per account: cash = Σ cash journal lines; for every holding, qty = Σ share movements
and cost basis = the securities account's book value; realized P&L = −Σ realized P&L lines; blocked cash
and shares are never negative. Every journal entry balances (also enforced by a deferred trigger).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from ledger.postings import REALIZED_PNL


@dataclass(frozen=True, slots=True)
class Discrepancy:
    account_id: str
    item: str  # e.g. "cash:USD", "holding:AAPL:qty", "entry:42"
    stored: Decimal
    replayed: Decimal


_CASH = """
SELECT c.account_id, 'cash:' || c.currency AS item, c.amount AS stored,
       coalesce((SELECT sum(l.debit - l.credit) FROM journal_lines l
                 WHERE l.account_id = c.account_id AND l.ledger_account = 'cash:' || c.currency), 0) AS replayed
FROM cash_balances c WHERE ($1::text IS NULL OR c.account_id = $1)
"""

_HOLDINGS = """
WITH j AS (
    SELECT account_id, substr(ledger_account, 12) AS symbol, sum(debit - credit) AS book, sum(quantity) AS qty
    FROM journal_lines WHERE ledger_account LIKE 'securities:%' AND ($1::text IS NULL OR account_id = $1)
    GROUP BY 1, 2
)
SELECT coalesce(h.account_id, j.account_id) AS account_id, coalesce(h.symbol, j.symbol) AS symbol,
       coalesce(h.qty, 0) AS qty, coalesce(j.qty, 0) AS j_qty,
       coalesce(sign(h.qty) * h.cost_basis, 0) AS book, coalesce(j.book, 0) AS j_book
FROM holdings h FULL JOIN j ON j.account_id = h.account_id AND j.symbol = h.symbol
WHERE ($1::text IS NULL OR coalesce(h.account_id, j.account_id) = $1)
"""

_PNL = """
SELECT a.account_id,
       coalesce((SELECT sum(realized_pnl) FROM holdings h WHERE h.account_id = a.account_id), 0) AS stored,
       coalesce((SELECT -sum(debit - credit) FROM journal_lines l
                 WHERE l.account_id = a.account_id AND l.ledger_account = $2), 0) AS replayed
FROM accounts a WHERE ($1::text IS NULL OR a.account_id = $1)
"""

_UNBALANCED = """
SELECT e.account_id, e.entry_id, coalesce(sum(l.debit), 0) AS debits, coalesce(sum(l.credit), 0) AS credits
FROM journal_entries e LEFT JOIN journal_lines l USING (entry_id)
WHERE ($1::text IS NULL OR e.account_id = $1)
GROUP BY e.account_id, e.entry_id HAVING coalesce(sum(l.debit), 0) <> coalesce(sum(l.credit), 0)
"""

_NEGATIVE_BLOCKS = """
SELECT account_id, 'blocked:' || currency AS item, blocked AS value FROM cash_balances
WHERE blocked < 0 AND ($1::text IS NULL OR account_id = $1)
UNION ALL
SELECT account_id, 'blocked_qty:' || symbol, blocked_qty FROM holdings
WHERE blocked_qty < 0 AND ($1::text IS NULL OR account_id = $1)
"""


async def reconcile(pool: asyncpg.Pool, account_id: str | None = None) -> list[Discrepancy]:
    """Every difference between the stored state and the journal replay (empty when the ledger is whole).

    Runs in one REPEATABLE READ snapshot so concurrent changes cannot produce false alarms.
    """
    found: list[Discrepancy] = []
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        for r in await conn.fetch(_CASH, account_id):
            if r["stored"] != r["replayed"]:
                found.append(Discrepancy(r["account_id"], r["item"], r["stored"], r["replayed"]))
        for r in await conn.fetch(_HOLDINGS, account_id):
            if r["qty"] != r["j_qty"]:
                found.append(Discrepancy(r["account_id"], f"holding:{r['symbol']}:qty", r["qty"], r["j_qty"]))
            if r["book"] != r["j_book"]:
                found.append(Discrepancy(r["account_id"], f"holding:{r['symbol']}:cost_basis", r["book"], r["j_book"]))
        for r in await conn.fetch(_PNL, account_id, REALIZED_PNL):
            if r["stored"] != r["replayed"]:
                found.append(Discrepancy(r["account_id"], "realized_pnl", r["stored"], r["replayed"]))
        for r in await conn.fetch(_UNBALANCED, account_id):
            found.append(Discrepancy(r["account_id"], f"entry:{r['entry_id']}", r["debits"], r["credits"]))
        for r in await conn.fetch(_NEGATIVE_BLOCKS, account_id):
            found.append(Discrepancy(r["account_id"], r["item"], r["value"], Decimal(0)))
    return found
