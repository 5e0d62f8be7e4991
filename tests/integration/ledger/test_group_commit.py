"""A group-commit transaction (``gateway.oms.batch.group_commit``, ADR 054) begins with its settings in BEGIN's
round trip, commits what its block wrote, rolls everything back when the block raises, and leaves the pooled
connection as it found it (no open transaction, the settings gone)."""

from __future__ import annotations

import asyncpg
import pytest

from gateway.oms.batch import GROUP_COMMIT_SETTINGS, group_commit
from ledger.journal_store import Conn

pytestmark = pytest.mark.integration


async def _account(conn: Conn, account_id: str) -> None:
    await conn.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ($1, 'cash', 'x')",
                       account_id)


async def _exists(pool: asyncpg.Pool, account_id: str) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM accounts WHERE account_id = $1", account_id))


async def test_the_settings_hold_inside_only_and_the_block_commits(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        default = {name: await conn.fetchval(f"SHOW {name}") for name in GROUP_COMMIT_SETTINGS}
        assert default["plan_cache_mode"] == "auto"
        async with group_commit(conn):
            assert conn.is_in_transaction()
            for name, value in GROUP_COMMIT_SETTINGS.items():
                assert await conn.fetchval(f"SHOW {name}") == value
            await _account(conn, "G1")
            async with db_pool.acquire() as other:  # not visible to anyone before the commit
                assert not await other.fetchval("SELECT count(*) FROM accounts WHERE account_id = 'G1'")
        assert not conn.is_in_transaction()
        assert {name: await conn.fetchval(f"SHOW {name}") for name in GROUP_COMMIT_SETTINGS} == default
    assert await _exists(db_pool, "G1")


async def test_a_raising_block_writes_nothing_and_the_error_goes_on(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="refused"):
            async with group_commit(conn):
                await _account(conn, "G2")
                raise RuntimeError("refused")
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
        # a failed statement (the transaction aborted server-side) is rolled back the same way
        with pytest.raises(asyncpg.UniqueViolationError):
            async with group_commit(conn):
                await _account(conn, "G3")
                await _account(conn, "G3")
        assert not conn.is_in_transaction()
        async with group_commit(conn):  # the connection goes on serving transactions
            await _account(conn, "G4")
    assert not await _exists(db_pool, "G2")
    assert not await _exists(db_pool, "G3")
    assert await _exists(db_pool, "G4")
