"""Migration 0021 (ADR 031): the journal's balance and line accounts are checked per statement, and the
migration upgrades a database that already holds entries."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from ledger import migrate

pytestmark = pytest.mark.integration

_ACCOUNTS = ("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ('ACC-1', 'cash', 'A'), "
             "('ACC-2', 'cash', 'B')")
_ENTRY = ("WITH e AS (INSERT INTO journal_entries (account_id, kind, reference) VALUES ($1, 'deposit', $2) "
          "RETURNING entry_id) INSERT INTO journal_lines (entry_id, account_id, ledger_account, debit, credit) "
          "SELECT e.entry_id, u.a, u.l, u.d, u.c FROM e, unnest($3::text[], $4::text[], $5::numeric[], "
          "$6::numeric[]) AS u(a, l, d, c)")


async def _entry(conn: asyncpg.Connection, account: str, ref: str, lines: list[tuple[str, str, int, int]]) -> None:
    await conn.execute(_ENTRY, account, ref, [x[0] for x in lines], [x[1] for x in lines],
                       [x[2] for x in lines], [x[3] for x in lines])


async def test_balanced_entries_of_one_statement_pass_and_every_entry_is_checked(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        await conn.execute(_ACCOUNTS)
        await _entry(conn, "ACC-1", "ok", [("ACC-1", "cash:USD", 5, 0), ("ACC-1", "external:bank", 0, 5)])
        # two entries in one statement: the second does not balance
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            await conn.execute(
                "WITH e AS (INSERT INTO journal_entries (account_id, kind, reference) VALUES ('ACC-1', 'deposit', "
                "'a'), ('ACC-1', 'deposit', 'b') RETURNING entry_id, reference) "
                "INSERT INTO journal_lines (entry_id, account_id, ledger_account, debit, credit) "
                "SELECT e.entry_id, 'ACC-1', 'cash:USD', 3, 0 FROM e UNION ALL "
                "SELECT e.entry_id, 'ACC-1', 'external:bank', 0, 3 FROM e WHERE e.reference = 'a'")
        # lines added later to a balanced entry are summed with the ones it has
        entry = await conn.fetchval("SELECT entry_id FROM journal_entries WHERE reference = 'ok'")
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            await conn.execute("INSERT INTO journal_lines (entry_id, account_id, ledger_account, debit) "
                               "VALUES ($1, 'ACC-1', 'cash:USD', 1)", entry)
        with pytest.raises(asyncpg.CheckViolationError, match="line of another account"):
            await _entry(conn, "ACC-1", "mixed", [("ACC-1", "cash:USD", 5, 0), ("ACC-2", "external:bank", 0, 5)])
        assert await conn.fetchval("SELECT count(*) FROM journal_entries") == 1
        assert await conn.fetchval("SELECT count(*) FROM journal_lines") == 2


async def test_upgrade_from_0020_keeps_the_journal_and_checks_new_entries(empty_db_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_db_url, "0020_drop_copy")
    conn = await asyncpg.connect(empty_db_url)
    try:
        await conn.execute(_ACCOUNTS)
        await _entry(conn, "ACC-1", "before", [("ACC-1", "cash:USD", 7, 0), ("ACC-1", "external:bank", 0, 7)])
        await conn.execute("INSERT INTO orders (order_id, account_id, session_id, cl_ord_id, symbol, side, ord_type, "
                           "time_in_force, qty, status, leaves_qty) VALUES ('O1', 'ACC-1', 'S', 'C1', 'AAPL', 'buy', "
                           "'market', 'day', 1, 'new', 1)")
        await asyncio.to_thread(migrate.upgrade, empty_db_url)
        assert migrate.current_revisions(empty_db_url) == migrate.head_revisions()
        assert await conn.fetchval("SELECT count(*) FROM journal_lines") == 2
        assert await conn.fetchval("SELECT to_regclass('ix_orders_working')") is None
        await _entry(conn, "ACC-1", "after", [("ACC-1", "cash:USD", 2, 0), ("ACC-1", "external:bank", 0, 2)])
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            await _entry(conn, "ACC-1", "bad", [("ACC-1", "cash:USD", 2, 0)])
        # and back: the per-line deferred trigger and the dropped index and foreign key return
        await asyncio.to_thread(migrate.downgrade, empty_db_url, "0020_drop_copy")
        assert await conn.fetchval("SELECT to_regclass('ix_orders_working')") is not None
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            async with conn.transaction():
                await _entry(conn, "ACC-1", "bad2", [("ACC-1", "cash:USD", 2, 0)])
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("INSERT INTO journal_lines (entry_id, account_id, ledger_account) "
                               "SELECT entry_id, 'NOPE', 'cash:USD' FROM journal_entries LIMIT 1")
    finally:
        await conn.close()
