"""An exchange that comes back without an order the ledger has working (its journal lost here: the data
deleted while it was down): the gateway's reconciliation cancels the order, releases its block with the
reason, tells the client (39=4 with the reason) and audits the repair."""

from __future__ import annotations

import contextlib
import shutil
from decimal import ROUND_DOWN, Decimal

import asyncpg

from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import check_invariants, until_status
from tests.integration.venue_recovery.conftest import VenueEnv, reconciled_events


async def test_an_order_the_venue_lost_is_released_with_a_reason(venue_env: VenueEnv, pool: asyncpg.Pool,
                                                                quotes: QuoteReader) -> None:
    mark = (await quotes.get_many(["F"]))["F"].mark
    assert mark is not None
    price = (mark * Decimal("0.95")).quantize(Decimal("0.01"), ROUND_DOWN)
    client = await venue_env.client("CLIENT1")
    try:
        cl = await client.new_order_single("F", "buy", 100, "limit", price=price, tif="gtc")
        await until_status(client, cl, {"0"})
        order_id, blocked = await pool.fetchrow("SELECT order_id, reserved_cash FROM orders "
                                                "WHERE session_id = 'CLIENT1' AND cl_ord_id = $1", cl)
        assert blocked > 0
        logons = venue_env.gateway_log().count("oms.venue_reconciled")
        venue_env.kill_exchange()
        shutil.rmtree(venue_env.exchange_state_dir / "journal")  # the venue's books are gone
        venue_env.start_exchange()
        report = await until_status(client, cl, {"4"}, timeout=60)
        assert "no longer knows" in (report.text or "")
        await venue_env.wait_log("oms.venue_reconciled", logons + 1)
        row = await pool.fetchrow("SELECT status, reserved_cash FROM orders WHERE order_id = $1", order_id)
        assert (row["status"], row["reserved_cash"]) == ("canceled", 0)
        events = [e for e in await reconciled_events(pool) if e.get("order_id") == order_id]
        assert events and "no longer knows" in events[-1]["reason"], events
        await check_invariants(pool)
    finally:
        with contextlib.suppress(Exception):
            await client.logout()
