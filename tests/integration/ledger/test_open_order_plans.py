"""The open-order reads (the store's, and the gateway's risk inputs and working system orders) name their
status list literally (ADR 036, 041), so even a generic plan
(``plan_cache_mode = force_generic_plan``, or the plan cache's own choice after five calls) can use the
open-order partial index; a ``status = ANY($n)`` parameter could not prove the index's predicate."""

from __future__ import annotations

import asyncpg
import pytest

from gateway.oms import context, origin, store

pytestmark = pytest.mark.integration


async def _generic_plan(conn: asyncpg.Connection, name: str, sql: str, types: str, args: str) -> str:
    """The plan of ``sql`` prepared with parameter ``types`` and run with ``args`` under a forced generic plan
    (PostgreSQL 15 has no ``EXPLAIN (GENERIC_PLAN)``)."""
    await conn.execute(f"PREPARE {name} ({types}) AS {sql}")
    try:
        rows = await conn.fetch(f"EXPLAIN EXECUTE {name} ({args})")
    finally:
        await conn.execute(f"DEALLOCATE {name}")  # session-level: a rollback would keep it
    return "\n".join(r[0] for r in rows)


async def test_open_order_reads_use_the_partial_index_with_a_generic_plan(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute("SET LOCAL enable_seqscan = off")  # the question is whether the index applies at all
        assert "ix_orders_open" in await _generic_plan(conn, "exposure", store._OPEN_EXPOSURE, "text, text",
                                                       "'A1', 'AAPL'")
        # the parameter form the reads had before: the predicate cannot be proven for a generic plan
        before = store._OPEN_EXPOSURE.replace(store._OPEN_SQL, "status = ANY($3::text[])")
        assert "ix_orders_open" not in await _generic_plan(conn, "before", before, "text, text, text[]",
                                                           "'A1', 'AAPL', '{new}'")
        working = await _generic_plan(conn, "working", store._WORKING, "text", "'A1'")
        assert "ix_orders_open" in working or "ix_orders_system_working" in working, working


async def test_gateway_open_order_reads_use_partial_indexes_with_a_generic_plan(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute("SET LOCAL enable_seqscan = off")
        working = await _generic_plan(conn, "working", origin._SYSTEM_WORKING, "text", "'A1'")
        assert "ix_orders_system_working" in working, working
        before = origin._SYSTEM_WORKING.split(" AND status IN")[0] + " AND status = ANY($2::text[])"
        assert "ix_orders_system_working" not in await _generic_plan(conn, "before", before, "text, text[]",
                                                                      "'A1', '{new}'")
        batch = await _generic_plan(conn, "batch", context._BATCH, "text[], text, text[], date",
                                    "'{A1}', 'S1', '{C1}', '2026-12-03'")
        assert "ix_orders_open" in batch, batch
