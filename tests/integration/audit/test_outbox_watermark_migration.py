"""Migration 0022 (ADR 039) on an outbox that already holds shipped and unshipped rows, and back."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from audit.outbox import backlog, shipped_position
from ledger import migrate

pytestmark = pytest.mark.integration


async def test_shipped_rows_stay_shipped_and_the_unshipped_ones_ship(empty_db_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_db_url, "0021_order_path_rows")
    conn = await asyncpg.connect(empty_db_url)
    pool = await asyncpg.create_pool(empty_db_url, min_size=1, max_size=2)
    try:
        await conn.execute(
            "INSERT INTO outbox (event_id, event_type, payload, shipped_at) "
            "SELECT gen_random_uuid(), 'e', '{}'::jsonb, CASE WHEN n <= 3 THEN now() END FROM generate_series(1, 5) n")
        await asyncio.to_thread(migrate.upgrade, empty_db_url)
        assert migrate.current_revisions(empty_db_url) == migrate.head_revisions()
        assert (await backlog(pool)).pending == 2  # rows 4 and 5 only
        new = await conn.fetchval("INSERT INTO outbox (event_id, event_type, payload) "
                                  "VALUES (gen_random_uuid(), 'e', '{}'::jsonb) RETURNING txid::text")
        assert int(new) > 1  # the default records the writing transaction
        assert (await backlog(pool)).pending == 3

        await asyncio.to_thread(migrate.downgrade, empty_db_url, "0021_order_path_rows")
        # back to per-row marks: rows up to the recorded position are marked shipped, the rest are not
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE shipped_at IS NULL") == 3
        assert await conn.fetchval("SELECT to_regclass('ix_outbox_unshipped')") is not None
        await asyncio.to_thread(migrate.upgrade, empty_db_url)
        assert (await backlog(pool)).pending == 3
        assert (await shipped_position(pool)).txid == "1"
    finally:
        await pool.close()
        await conn.close()
