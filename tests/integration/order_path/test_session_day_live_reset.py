"""A client that logs on again with 141=Y while the gateway runs starts a new message store (a new session day,
ADR 010): its next orders must be marked handled under the NEW store's start, or a crash would compare the new
store's small sequence numbers with the old day's mark and skip (lose) what followed. The gateway reads a store's
start once per logon, not per message (ADR 056), so this is the path that proves it reads it again after a reset
it did not make itself.

Real processes; the mark is read back from ``fix_inbound_marks``, the start from the gateway's store file."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import asyncpg

from fixclient import FixClient
from gateway.oms.session_days import parse_session_start
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import OrderPathEnv, check_invariants, until_status
from tests.integration.order_path.system import PASSWORDS

COMP_ID = "CLIENT3"


def _store_start(env: OrderPathEnv) -> datetime:
    [path] = (env.root / "gateway" / "fix").glob(f"*/store/FIX.4.4-BROKER-{COMP_ID}.session")
    return parse_session_start(Path(path).read_text().strip()[:17])


async def _resting_order(client: FixClient, price: Decimal) -> int:
    """A buy far below the market, acknowledged (New), then cancelled; the inbound MsgSeqNum of the order."""
    seq = client.next_sender_seq_num
    cl = await client.new_order_single("AAPL", "buy", 1, "limit", price=price)
    assert (await until_status(client, cl, {"0", "8"})).ord_status == "0"
    cancel = await client.cancel(cl)
    await until_status(client, cancel, {"4"})
    return seq


async def _mark(pool: asyncpg.Pool, start: datetime) -> int | None:
    value = await pool.fetchval("SELECT last_seq FROM fix_inbound_marks WHERE session_key = $1 "
                                "AND session_start = $2", f"client:{COMP_ID}", start)
    return int(value) if value is not None else None


async def test_orders_after_a_live_141_reset_are_marked_in_the_new_store(order_path_env: OrderPathEnv,
                                                                         pool: asyncpg.Pool,
                                                                         quotes: QuoteReader) -> None:
    env = order_path_env
    quote = await quotes.get("AAPL")
    assert quote is not None and quote.bid is not None
    price = (quote.bid * Decimal("0.9")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)

    client = await env.client(COMP_ID)
    try:
        for _ in range(3):  # a few messages into the day, so the old day's mark is above the new day's numbers
            await _resting_order(client, price)
    finally:
        await client.close("before the reset")
    day_one = _store_start(env)
    await asyncio.sleep(1.0)  # marks are saved every 200 ms
    old_mark = await _mark(pool, day_one)
    assert old_mark is not None and old_mark >= 6, old_mark

    await asyncio.sleep(1.1)  # a store's creation time is kept to the second: the new store must be a different one
    client = await FixClient.connect("127.0.0.1", env.fix_port, COMP_ID, "BROKER", password=PASSWORDS[COMP_ID],
                                     reset_seq_num=True, store_path=env.root / "clients" / f"{COMP_ID}.seq")
    await client.logon()
    try:
        day_two = _store_start(env)
        assert day_two > day_one, "the 141=Y Logon did not start a new store"
        seq = await _resting_order(client, price)
        assert seq < old_mark
        # the order and its cancel request, both handled: the mark is saved every 200 ms
        deadline = time.monotonic() + 10
        while ((mark := await _mark(pool, day_two)) or 0) < seq + 1:
            assert time.monotonic() < deadline, (
                "no mark under the new store's start: the orders were stamped with the old session day" if mark is None
                else f"the new store's mark stayed at {mark}, below the cancel request's {seq + 1}")
            await asyncio.sleep(0.2)
        assert await _mark(pool, day_one) == old_mark  # the old day's mark untouched
    finally:
        await client.close("test done")
    await check_invariants(pool)
