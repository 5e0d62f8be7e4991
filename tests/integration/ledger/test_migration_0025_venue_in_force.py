"""Migration 0025 back-fills ``orders.venue_in_force`` from the client reports every cancel/replace request
wrote: a working order whose accepted replace was followed by a refused one names the accepted one."""

from __future__ import annotations

import asyncio

import asyncpg
import orjson
import pytest

from ledger import migrate

pytestmark = pytest.mark.integration

_ORDER = ("INSERT INTO orders (order_id, account_id, session_id, cl_ord_id, current_cl_ord_id, symbol, side, "
          "ord_type, time_in_force, qty, status, leaves_qty, venue_requests) VALUES ($1, 'ACC-1', 'S', $2, $3, "
          "'AAPL', 'buy', 'limit', 'day', 10, $4, 10, $5)")
_REPORT = ("INSERT INTO executions (exec_id, order_id, account_id, exec_type, ord_status, symbol, side, cum_qty, "
           "leaves_qty, avg_px, transact_time, session_id, fix_fields) VALUES ($1, $2, 'ACC-1', $3, 'new', 'AAPL', "
           "'buy', 0, 10, 0, now(), 'S', $4::jsonb)")


async def test_back_fill_names_the_last_replace_the_venue_accepted(empty_db_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_db_url, "0024_jsonb_no_statistics")
    conn = await asyncpg.connect(empty_db_url)
    try:
        await conn.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ('ACC-1', 'cash', 'A')")
        # O1: request 1 (replace to C2) accepted, request 2 (replace to C3) refused, request 3 (cancel C4) refused
        await conn.execute(_ORDER, "O1", "C1", "C2", "new", 3)
        for n, (kind, cl) in enumerate((("pending_replace", "C2"), ("pending_replace", "C3"),
                                        ("pending_cancel", "C4")), start=1):
            await conn.execute(_REPORT, f"E1-{n}", "O1", kind, orjson.dumps([[11, cl], [41, "C1"]]).decode())
        # O2: one refused replace, so the order id itself is still in force; O3: finished, left alone
        await conn.execute(_ORDER, "O2", "K1", "K1", "partially_filled", 1)
        await conn.execute(_REPORT, "E2-1", "O2", "pending_replace", orjson.dumps([[11, "K2"]]).decode())
        await conn.execute(_ORDER, "O3", "L1", "L2", "canceled", 1)
        await conn.execute(_REPORT, "E3-1", "O3", "pending_replace", orjson.dumps([[11, "L2"]]).decode())
        await asyncio.to_thread(migrate.upgrade, empty_db_url)
        rows = dict(await conn.fetch("SELECT order_id, venue_in_force FROM orders ORDER BY order_id"))
        assert rows == {"O1": 1, "O2": 0, "O3": 0}
        await asyncio.to_thread(migrate.downgrade, empty_db_url, "0024_jsonb_no_statistics")
        assert await conn.fetchval("SELECT count(*) FROM information_schema.columns "
                                   "WHERE table_name = 'orders' AND column_name = 'venue_in_force'") == 0
    finally:
        await conn.close()
