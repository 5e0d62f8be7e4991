"""A cancel/replace the exchange refuses leaves the order as the exchange knows it: the next request names the
ClOrdID in force there as its OrigClOrdID (41), not the refused request's, and the order can still be canceled.

The exchange refuses a replace whose quantity does not exceed what it has filled; the gateway lets a replace
down to the filled quantity through (another venue may take it). Before the fix the gateway named the refused
request as the next request's OrigClOrdID, the exchange answered "unknown order" to every later cancel, and
the order could never be canceled (CI, stop 20: 40 refused cancels in 40 s after the kill -9 test's replace)."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from fixclient import FixClient
from fixclient.messages import InboundMessage
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import TERMINAL, OrderPathEnv, check_invariants, until_status
from tests.integration.order_path.test_order_lifecycle import mid, sell_back

SYMBOL = "F"


async def answer_to(client: FixClient, cl_ord_id: str) -> InboundMessage:
    """The OrderCancelReject, or the ExecutionReport with a final status, answering request ``cl_ord_id``."""
    def final(m: InboundMessage) -> bool:
        return m.get(11) == cl_ord_id and (m.msg_type == "9" or (m.msg_type == "8" and m.get(39) in TERMINAL))
    return await client.wait_for(final, timeout=10)


async def test_cancel_after_a_replace_the_exchange_refused_reaches_the_order(
        order_path_env: OrderPathEnv, pool: asyncpg.Pool, quotes: QuoteReader) -> None:
    client = await order_path_env.client("CLIENT3")
    try:
        for _attempt in range(8):
            # at the ask: its level fills and the rest works as the best bid (partially filled)
            _, ask = await mid(quotes, SYMBOL)
            entry = await client.new_order_single(SYMBOL, "buy", 1200, "limit", price=ask)
            first = await until_status(client, entry, {"1", "2", "4", "8", "C"})
            if first.ord_status == "1" and first.cum_qty:
                # down to the quantity filled so far: the exchange has filled at least that much, so refuses it
                replace = await client.replace(entry, qty=first.cum_qty)
                refused = await answer_to(client, replace)
                by_exchange = refused.msg_type == "9" and "rejected by the exchange" in (refused.get(58) or "")
                cancel = await client.cancel(entry)
                answer = await answer_to(client, cancel)
                assert "unknown order" not in (answer.get(58) or ""), answer
                if by_exchange and answer.msg_type == "8" and answer.get(39) == "4":
                    sent = await pool.fetchval("SELECT venue_requests FROM orders WHERE cl_ord_id = $1", entry)
                    assert sent == 2  # the refused replace, then the cancel the exchange took
                    await sell_back(client, SYMBOL, Decimal(answer.get(14) or 0))
                    break
            row = await pool.fetchrow("SELECT status, cum_qty FROM orders WHERE cl_ord_id = $1", entry)
            if row["status"] in ("new", "partially_filled"):
                await until_status(client, await client.cancel(entry), {"4", "2"})
                row = await pool.fetchrow("SELECT status, cum_qty FROM orders WHERE cl_ord_id = $1", entry)
            await sell_back(client, SYMBOL, row["cum_qty"])
        else:
            raise AssertionError("no replace refused by the exchange then a cancel taken, in eight attempts")
        await check_invariants(pool)
    finally:
        await client.logout()
