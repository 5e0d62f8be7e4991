"""The gateway's own open-order reads (risk inputs, working system orders) name their status lists literally,
as the partial indexes' predicates do, so a generic plan -- the plan cache's choice after five calls, or
``plan_cache_mode = force_generic_plan`` -- still uses those indexes (ADR 036, 041)."""

from __future__ import annotations

import asyncpg
import pytest

from gateway.oms import context, origin
from ledger.journal_store import Conn

pytestmark = pytest.mark.integration


async def _generic_plan(conn: Conn, name: str, sql: str, types: str, args: str) -> str:
    await conn.execute(f"PREPARE {name} ({types}) AS {sql}")
    try:
        rows = await conn.fetch(f"EXPLAIN EXECUTE {name} ({args})")
    finally:
        await conn.execute(f"DEALLOCATE {name}")  # session-level: a rollback would keep it
    return "\n".join(r[0] for r in rows)


async def test_gateway_open_order_reads_use_partial_indexes_with_a_generic_plan(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute("SET LOCAL enable_seqscan = off")  # the question is whether the index applies at all
        working = await _generic_plan(conn, "working", origin._SYSTEM_WORKING, "text", "'A1'")
        assert "ix_orders_system_working" in working, working
        # the parameter form it had before: the predicate cannot be proven for a generic plan
        before = origin._SYSTEM_WORKING.split(" AND status IN")[0] + " AND status = ANY($2::text[])"
        assert "ix_orders_system_working" not in await _generic_plan(conn, "before", before, "text, text[]",
                                                                      "'A1', '{new}'")
        batch = await _generic_plan(conn, "batch", context._BATCH, "text[], text, text[], date",
                                    "'{A1}', 'S1', '{C1}', '2026-12-03'")
        assert "ix_orders_open" in batch, batch
