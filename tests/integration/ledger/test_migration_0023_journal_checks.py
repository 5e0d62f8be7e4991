"""Migration 0023 (ADR 042): the journal's balance check per statement and one composite foreign key per line,
on a database that already holds entries, and back."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from ledger import migrate

pytestmark = pytest.mark.integration

_ENTRY = ("WITH e AS (INSERT INTO journal_entries (account_id, kind, reference) VALUES ($1, 'deposit', $2) "
          "RETURNING entry_id) INSERT INTO journal_lines (entry_id, account_id, ledger_account, debit, credit) "
          "SELECT e.entry_id, $3, l, d, c FROM e, unnest($4::text[], $5::numeric[], $6::numeric[]) AS u(l, d, c)")


async def _entry(conn: asyncpg.Connection, reference: str, debits: list[int], credits: list[int],
                 line_account: str = "ACC-1") -> None:
    await conn.execute(_ENTRY, "ACC-1", reference, line_account, [f"l{i}" for i in range(len(debits))], debits,
                       credits)


async def test_statement_checks_and_back(empty_db_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_db_url, "0022_outbox_watermark")
    conn = await asyncpg.connect(empty_db_url)
    try:
        for account in ("ACC-1", "ACC-2"):
            await conn.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ($1, 'cash', 'A')",
                               account)
        await _entry(conn, "before", [5, 0], [0, 5])
        await asyncio.to_thread(migrate.upgrade, empty_db_url)
        assert migrate.current_revisions(empty_db_url) == migrate.head_revisions()

        await _entry(conn, "after", [7, 3, 0], [0, 0, 10])  # balanced, in one statement
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            await _entry(conn, "short", [7, 0], [0, 6])
        # several entries in one statement: each must balance, not only their sum
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            await conn.execute(
                "WITH e AS (INSERT INTO journal_entries (account_id, kind, reference) SELECT 'ACC-1', 'deposit', r "
                "FROM unnest(ARRAY['m1', 'm2']) AS r RETURNING entry_id, reference) "
                "INSERT INTO journal_lines (entry_id, account_id, ledger_account, debit, credit) "
                "SELECT entry_id, 'ACC-1', 'cash:USD', CASE reference WHEN 'm1' THEN 4 ELSE 0 END, "
                "CASE reference WHEN 'm2' THEN 4 ELSE 0 END FROM e")
        # an entry's lines arrive in one statement: a balanced pair in two statements is refused at the first
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            async with conn.transaction():
                entry = await conn.fetchval("INSERT INTO journal_entries (account_id, kind, reference) "
                                            "VALUES ('ACC-1', 'deposit', 'split') RETURNING entry_id")
                await conn.execute("INSERT INTO journal_lines (entry_id, account_id, ledger_account, debit) "
                                   "VALUES ($1, 'ACC-1', 'cash:USD', 5)", entry)
        # one composite foreign key: the line's entry, under the entry's own account
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await _entry(conn, "other-account", [5, 0], [0, 5], line_account="ACC-2")
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("INSERT INTO journal_lines (entry_id, account_id, ledger_account, debit, credit) "
                               "VALUES (999999, 'ACC-1', 'a', 1, 0), (999999, 'ACC-1', 'b', 0, 1)")
        # still append-only; with that trigger switched off, the balance triggers still see UPDATE and DELETE
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("UPDATE journal_lines SET debit = debit + 1")
        for change in ("UPDATE journal_lines SET debit = debit + 1 WHERE debit > 0",
                       "DELETE FROM journal_lines WHERE debit > 0"):
            with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
                async with conn.transaction():
                    await conn.execute("ALTER TABLE journal_lines DISABLE TRIGGER journal_lines_append_only")
                    await conn.execute(change)
        undo = conn.transaction()  # deleting a whole (balanced) entry's lines passes the balance check
        await undo.start()
        await conn.execute("ALTER TABLE journal_lines DISABLE TRIGGER journal_lines_append_only")
        assert await conn.execute("DELETE FROM journal_lines WHERE entry_id = (SELECT entry_id FROM journal_entries "
                                  "WHERE reference = 'before')") == "DELETE 2"
        await undo.rollback()
        assert await conn.fetchval("SELECT count(*) FROM journal_lines") == 5

        await asyncio.to_thread(migrate.downgrade, empty_db_url, "0022_outbox_watermark")
        # the deferred per-line check is back: lines of one entry may again span statements of a transaction
        async with conn.transaction():
            entry = await conn.fetchval("INSERT INTO journal_entries (account_id, kind, reference) "
                                        "VALUES ('ACC-1', 'deposit', 'split') RETURNING entry_id")
            await conn.execute("INSERT INTO journal_lines (entry_id, account_id, ledger_account, debit) "
                               "VALUES ($1, 'ACC-1', 'cash:USD', 5)", entry)
            await conn.execute("INSERT INTO journal_lines (entry_id, account_id, ledger_account, credit) "
                               "VALUES ($1, 'ACC-1', 'bank', 5)", entry)
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            await _entry(conn, "short", [7, 0], [0, 6])
        assert not await conn.fetchval("SELECT indisunique FROM pg_index WHERE indexrelid = "
                                       "'ix_journal_entries_account'::regclass")
    finally:
        await conn.close()
