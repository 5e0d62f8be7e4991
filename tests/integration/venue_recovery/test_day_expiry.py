"""Day orders expire at the trading day's close without any flag: the exchange closes the day (here on
SIGUSR1, the operator's and tests' trigger; otherwise at the XNYS close or the daily close time), the client
receives 150=C / 39=C, the ledger releases the block; a GTC order stays working."""

from __future__ import annotations

import contextlib
from decimal import ROUND_DOWN, Decimal

import asyncpg

from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import check_invariants, until_status
from tests.integration.venue_recovery.conftest import VenueEnv


async def test_day_order_expires_at_the_close_gtc_stays(venue_env: VenueEnv, pool: asyncpg.Pool,
                                                        quotes: QuoteReader) -> None:
    assert "session_close" in venue_env.exchange_log()  # the exchange says when the day closes
    mark = (await quotes.get_many(["AAPL"]))["AAPL"].mark
    assert mark is not None
    price = (mark * Decimal("0.95")).quantize(Decimal("0.01"), ROUND_DOWN)
    client = await venue_env.client("CLIENT1")
    try:
        day = await client.new_order_single("AAPL", "buy", 10, "limit", price=price, tif="day")
        gtc = await client.new_order_single("AAPL", "buy", 10, "limit", price=price, tif="gtc")
        for cl in (day, gtc):
            await until_status(client, cl, {"0"})
        blocked = await pool.fetchval("SELECT reserved_cash FROM orders WHERE session_id = 'CLIENT1' "
                                      "AND cl_ord_id = $1", day)
        assert blocked > 0
        venue_env.close_day()
        expired = await until_status(client, day, {"C"}, timeout=20)
        assert expired.exec_type == "C" and expired.leaves_qty == 0
        row = await pool.fetchrow("SELECT status, reserved_cash FROM orders WHERE session_id = 'CLIENT1' "
                                  "AND cl_ord_id = $1", day)
        assert (row["status"], row["reserved_cash"]) == ("expired", 0)
        assert await pool.fetchval("SELECT status FROM orders WHERE session_id = 'CLIENT1' AND cl_ord_id = $1",
                                   gtc) == "new"
        await check_invariants(pool)
        await until_status(client, await client.cancel(gtc), {"4"})
        await check_invariants(pool)
    finally:
        with contextlib.suppress(Exception):
            await client.logout()
