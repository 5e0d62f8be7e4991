"""ClOrdIDs are unique per session and trading day (FIX 4.4; the trading day is the UTC session day,
``gateway.oms.session_days.trading_day``): a ClOrdID used yesterday is accepted today, a second use today is
refused with 103=6, and a PossResend (97=Y) is answered from the ledger. Yesterday's order is made by moving a
real order's ClOrdID claims (and its row) one day back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal

import asyncpg

from fixclient.codec import encode_message
from fixclient.messages import new_order_single_body, ticket
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import OrderPathEnv, check_invariants, until_status


async def test_a_cl_ord_id_of_yesterday_is_accepted_today_and_once_only(order_path_env: OrderPathEnv,
                                                                        pool: asyncpg.Pool,
                                                                        quotes: QuoteReader) -> None:
    quote = await quotes.get("AAPL")
    assert quote is not None and quote.bid is not None
    price = (quote.bid * Decimal("0.9")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    client = await order_path_env.client("CLIENT2")
    try:
        cl = f"DAY-{datetime.now(UTC):%H%M%S%f}"
        await client.new_order_single("AAPL", "buy", 2, "limit", price=price, cl_ord_id=cl)
        await until_status(client, cl, {"0"})
        cancel = await client.cancel(cl)
        await until_status(client, cancel, {"4"})
        yesterday = await pool.fetchval("SELECT order_id FROM orders WHERE session_id = 'CLIENT2' AND cl_ord_id = $1",
                                        cl)
        await pool.execute("UPDATE order_cl_ord_ids SET trading_day = trading_day - 1 WHERE order_id = $1", yesterday)
        await pool.execute("UPDATE orders SET created_at = created_at - interval '1 day' WHERE order_id = $1",
                           yesterday)

        # the same ClOrdID on the next trading day: a new order
        await client.new_order_single("AAPL", "buy", 3, "limit", price=price, cl_ord_id=cl)
        accepted = await until_status(client, cl, {"0", "8"})
        assert accepted.ord_status == "0", accepted.text
        assert accepted.order_id != yesterday
        today = accepted.order_id

        # within the day: refused as a duplicate
        await client.new_order_single("AAPL", "buy", 3, "limit", price=price, cl_ord_id=cl)
        duplicate = await client.next_execution_report(cl)
        assert (duplicate.ord_status, duplicate.ord_rej_reason) == ("8", 6)
        assert duplicate.text and "duplicate ClOrdID" in duplicate.text

        # PossResend: today's order's status from the ledger, never a third order
        body = new_order_single_body(cl, ticket("AAPL", "buy", 3, "2", price, None, "0", None), datetime.now(UTC))
        seq = client.next_sender_seq_num
        await client.send_raw(encode_message("D", client.session._header(seq, [(97, "Y")]), body, "FIX.4.4"),
                              consumes_seq_num=True)
        status = await client.next_execution_report(cl)
        assert (status.exec_type, status.ord_status, status.order_id) == ("I", "0", today)
        assert await pool.fetchval("SELECT count(*) FROM orders WHERE session_id = 'CLIENT2' AND cl_ord_id = $1",
                                   cl) == 2
        days = await pool.fetch("SELECT trading_day, order_id FROM order_cl_ord_ids WHERE session_id = 'CLIENT2' "
                                "AND cl_ord_id = $1 ORDER BY trading_day", cl)
        assert [r["order_id"] for r in days] == [yesterday, today]

        # OrigClOrdID names today's order
        cancel = await client.cancel(cl)
        done = await until_status(client, cancel, {"4"})
        assert done.order_id == today
        await check_invariants(pool)
    finally:
        await client.logout()
