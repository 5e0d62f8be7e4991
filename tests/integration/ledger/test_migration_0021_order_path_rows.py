"""Migration 0021 (ADR 031) upgrades a database that already holds orders and journal entries, and back."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from ledger import migrate

pytestmark = pytest.mark.integration


async def test_upgrade_from_0020_keeps_the_data_and_the_journal_checks(empty_db_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_db_url, "0020_drop_copy")
    conn = await asyncpg.connect(empty_db_url)
    try:
        await conn.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ('ACC-1', 'cash', 'A')")
        await conn.execute("INSERT INTO orders (order_id, account_id, session_id, cl_ord_id, symbol, side, ord_type, "
                           "time_in_force, qty, status, leaves_qty) VALUES ('O1', 'ACC-1', 'S', 'C1', 'AAPL', 'buy', "
                           "'market', 'day', 1, 'new', 1)")
        await asyncio.to_thread(migrate.upgrade, empty_db_url)
        assert migrate.current_revisions(empty_db_url) == migrate.head_revisions()
        assert await conn.fetchval("SELECT to_regclass('ix_orders_working')") is None
        # the open-order scans still have a partial index
        plan = "\n".join(r[0] for r in await conn.fetch(
            "EXPLAIN SELECT order_id FROM orders WHERE account_id = 'ACC-1' AND status IN ('pending_new', 'new', "
            "'partially_filled', 'pending_cancel', 'pending_replace')"))
        assert "ix_orders_open" in plan or "Seq Scan" in plan  # a one-row table may be scanned
        assert await conn.fetchval("SELECT count(*) FROM orders WHERE status = 'new'") == 1
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            async with conn.transaction():
                entry = await conn.fetchval("INSERT INTO journal_entries (account_id, kind, reference) "
                                            "VALUES ('ACC-1', 'deposit', 'x') RETURNING entry_id")
                await conn.execute("INSERT INTO journal_lines (entry_id, account_id, ledger_account, debit) "
                                   "VALUES ($1, 'ACC-1', 'cash:USD', 5)", entry)
        await asyncio.to_thread(migrate.downgrade, empty_db_url, "0020_drop_copy")
        assert await conn.fetchval("SELECT to_regclass('ix_orders_working')") is not None
    finally:
        await conn.close()
