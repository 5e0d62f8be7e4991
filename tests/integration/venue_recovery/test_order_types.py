"""Order types and self-trade prevention from a real FIX client through the gateway to the exchange (ADR 025):
a stop triggering (150=L, then the fill), a trailing stop (40=P, 18=a, 211) triggered by a sweep, market- and
limit-on-close (59=7) executed or expired in the closing auction at the session close (SIGUSR1), and
self-trade prevention (cancel newest by default; cancel oldest once the operator sets it), each with the
ledger's blocks released and the invariants holding."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg

from fixclient import FixClient
from fixclient.codec import format_utc_timestamp
from fixclient.messages import ExecutionReport
from gateway.oms.self_trade import REFRESH_SECONDS, StpMode, set_mode
from marketdata.quotes import Quote
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import check_invariants, until_status
from tests.integration.venue_recovery.conftest import VenueEnv

SYMBOL = "F"
TICK = Decimal("0.01")
DONE = {"2", "4", "8", "C"}


async def quote(quotes: QuoteReader) -> Quote:
    """A two-sided quote with a spread of at least two ticks (room for an order inside it)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        q = (await quotes.get_many([SYMBOL])).get(SYMBOL)
        if q is not None and q.bid is not None and q.ask is not None and q.ask - q.bid >= 2 * TICK:
            return q
        await asyncio.sleep(0.1)
    raise AssertionError(f"no two-sided quote for {SYMBOL}")


async def reports_until(client: FixClient, cl_ord_id: str, statuses: set[str], timeout: float = 15,  # noqa: ASYNC109
                        ) -> list[ExecutionReport]:
    """Every report of ``cl_ord_id`` up to the first with an OrdStatus in ``statuses``."""
    out: list[ExecutionReport] = []
    deadline = time.monotonic() + timeout
    while not out or out[-1].ord_status not in statuses:
        out.append(await client.next_execution_report(cl_ord_id, timeout=max(0.1, deadline - time.monotonic())))
    return out


async def send_order(client: FixClient, side: str, qty: int, ord_type: str, tif: str = "0",
                     extra: list[tuple[int, object]] | None = None) -> str:
    """A NewOrderSingle with fields the light client's ticket does not know (40=P, 59=7, peg tags)."""
    cl_ord_id = client.new_cl_ord_id()
    body: list[tuple[int, object]] = [(11, cl_ord_id), (21, "1"), (55, SYMBOL), (54, side),
                                      (60, format_utc_timestamp(datetime.now(UTC))), (38, qty), (40, ord_type),
                                      (59, tif), *(extra or [])]
    await client.send("D", body)
    return cl_ord_id


async def buy_now(client: FixClient, qty: int) -> ExecutionReport:
    """A market buy, filled at the ask: the last trade price is then the ask."""
    cl = await client.new_order_single(SYMBOL, "buy", qty, "market", tif="ioc")
    done = await until_status(client, cl, DONE)
    assert done.ord_status == "2", done
    return done


async def sell_back(client: FixClient, qty: Decimal) -> None:
    """Give the market makers their shares back, so later tests still find asks."""
    if qty > 0:
        cl = await client.new_order_single(SYMBOL, "sell", qty, "market", tif="ioc")
        await until_status(client, cl, DONE)


async def order_row(pool: asyncpg.Pool, cl_ord_id: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM orders WHERE session_id = 'CLIENT1' AND cl_ord_id = $1", cl_ord_id)
    assert row is not None
    return row


async def test_stop_triggers_with_150_L_then_fills(venue_env: VenueEnv, pool: asyncpg.Pool,
                                                   quotes: QuoteReader) -> None:
    client = await venue_env.client("CLIENT1")
    try:
        fill = await buy_now(client, 10)
        assert fill.last_px is not None
        # a stop buy whose stop the last trade is already through: it triggers on arrival
        cl = await client.new_order_single(SYMBOL, "buy", 10, "stop", stop_px=fill.last_px - TICK, tif="day")
        seen = await reports_until(client, cl, DONE)
        kinds = [r.exec_type for r in seen]
        assert "L" in kinds and kinds.index("L") < kinds.index("F"), kinds
        triggered = seen[kinds.index("L")]
        assert (triggered.ord_status, triggered.leaves_qty, triggered.cum_qty) == ("0", Decimal(10), Decimal(0))
        assert Decimal(str(triggered.raw.get(99))) == fill.last_px - TICK
        assert seen[-1].ord_status == "2"
        assert await pool.fetchval("SELECT count(*) FROM executions e JOIN orders o USING (order_id) "
                                   "WHERE o.session_id = 'CLIENT1' AND o.cl_ord_id = $1 AND e.exec_type = 'triggered'",
                                   cl) == 1
        row = await order_row(pool, cl)
        assert (row["status"], row["reserved_cash"]) == ("filled", 0)
        await check_invariants(pool)
        await sell_back(client, Decimal(20))
    finally:
        with contextlib.suppress(Exception):
            await client.logout()


async def test_trailing_stop_follows_and_triggers(venue_env: VenueEnv, pool: asyncpg.Pool,
                                                  quotes: QuoteReader) -> None:
    client = await venue_env.client("CLIENT1")
    bought = Decimal(0)
    try:
        bought += (await buy_now(client, 10)).cum_qty or 0  # last trade = the ask
        cl = await send_order(client, "1", 10, "P", extra=[(18, "a"), (211, "0.01")])
        new = await until_status(client, cl, {"0"})
        assert (new.raw.get(40), new.raw.get(18), new.raw.get(211), new.raw.get(99)) == ("P", "a", "0.01", None)
        row = await order_row(pool, cl)
        assert (row["ord_type"], row["stop_px"]) == ("pegged", Decimal("0.01")) and row["reserved_cash"] > 0
        # a sweep through the best ask trades above the lowest price since the order arrived: the trailing stop
        # triggers and fills. The market moves meanwhile (a sweep may all trade at one, lower, level), so sweep
        # until it triggers.
        triggered = None
        for _ in range(5):
            q = await quote(quotes)
            assert q.ask is not None and q.ask_size is not None
            sweep = await client.new_order_single(SYMBOL, "buy", int(q.ask_size) + 100, "limit",
                                                  price=q.ask + 10 * TICK, tif="ioc")
            bought += (await until_status(client, sweep, DONE)).cum_qty or 0
            with contextlib.suppress(TimeoutError):
                triggered = await client.wait_for(lambda m: m.msg_type == "8" and m.get(11) == cl
                                                  and m.get(150) == "L", timeout=3)
                break
        assert triggered is not None, "the trailing stop never triggered"
        seen = await reports_until(client, cl, DONE)
        kinds = [r.exec_type for r in seen]
        assert "L" in kinds and seen[-1].ord_status == "2", kinds
        bought += 10
        row = await order_row(pool, cl)
        assert (row["status"], row["reserved_cash"]) == ("filled", 0)
        await check_invariants(pool)
    finally:
        with contextlib.suppress(Exception):
            await sell_back(client, bought)
            await client.logout()


async def test_market_and_limit_on_close_in_the_closing_auction(venue_env: VenueEnv, pool: asyncpg.Pool,
                                                                quotes: QuoteReader) -> None:
    client = await venue_env.client("CLIENT1")
    try:
        q = await quote(quotes)
        assert q.bid is not None and q.ask is not None
        moc = await send_order(client, "1", 10, "1", tif="7")
        loc = await send_order(client, "1", 10, "2", tif="7", extra=[(44, q.bid - 10 * TICK)])  # far below the ask
        for cl in (moc, loc):
            ack = await until_status(client, cl, {"0"})
            assert ack.raw.get(59) == "7"
        held = await order_row(pool, moc)
        assert held["time_in_force"] == "at_the_close" and held["reserved_cash"] > 0  # blocked at the collar
        await asyncio.sleep(0.5)
        assert (await order_row(pool, moc))["status"] == "new"  # nothing happens before the close
        venue_env.close_day()
        filled = await until_status(client, moc, DONE, timeout=20)
        assert filled.ord_status == "2" and filled.cum_qty == 10, filled
        expired = await until_status(client, loc, DONE, timeout=20)
        assert (expired.exec_type, expired.ord_status) == ("C", "C")
        for cl, status in ((moc, "filled"), (loc, "expired")):
            row = await order_row(pool, cl)
            assert (row["status"], row["reserved_cash"]) == (status, 0)
        await check_invariants(pool)
        await sell_back(client, Decimal(10))
    finally:
        with contextlib.suppress(Exception):
            await client.logout()


async def _self_cross(client: FixClient, quotes: QuoteReader, victim_side: str,
                      ) -> tuple[str, str, ExecutionReport] | None:
    """A resting buy inside the spread, then a sell of the same account at its price: (buy, sell, the cancel of
    the ``victim_side`` order), or None when the market traded with the resting buy first (try again)."""
    q = await quote(quotes)
    assert q.ask is not None
    price = q.ask - TICK
    buy = await client.new_order_single(SYMBOL, "buy", 10, "limit", price=price, tif="day")
    if (await until_status(client, buy, {"0", "1", "2"})).ord_status != "0":
        await until_status(client, buy, DONE)
        return None
    sell = await client.new_order_single(SYMBOL, "sell", 10, "limit", price=price, tif="day")
    canceled = await until_status(client, sell if victim_side == "sell" else buy, {"4", "1", "2"})
    if canceled.ord_status != "4":
        with contextlib.suppress(Exception):
            for cl in (buy, sell):
                await until_status(client, await client.cancel(cl), DONE)
        return None
    return buy, sell, canceled


async def test_self_trade_prevention_cancel_newest_then_cancel_oldest(venue_env: VenueEnv, pool: asyncpg.Pool,
                                                                       quotes: QuoteReader) -> None:
    client = await venue_env.client("CLIENT1")
    await buy_now(client, 20)  # shares to sell
    account = await pool.fetchval("SELECT account_id FROM orders WHERE session_id = 'CLIENT1' LIMIT 1")
    try:
        for mode in ("newest", "oldest"):
            if mode == "oldest":  # the operator's setting reaches the exchange in tag 7940
                assert await set_mode(pool, account, StpMode.CANCEL_OLDEST, "test")
                await asyncio.sleep(REFRESH_SECONDS * 2.5)
            pair = None
            for _ in range(3):
                pair = await _self_cross(client, quotes, "sell" if mode == "newest" else "buy")
                if pair is not None:
                    break
            assert pair is not None, "the market kept trading with the resting order"
            buy, sell, canceled = pair
            victim, survivor = (sell, buy) if mode == "newest" else (buy, sell)
            assert canceled.exec_type == "4" and canceled.raw.get(378) == "99"
            assert canceled.text is not None and f"self-trade prevention (cancel {mode})" in canceled.text
            row = await order_row(pool, victim)
            assert (row["status"], row["reserved_cash"], row["reserved_qty"]) == ("canceled", 0, 0)
            assert (await order_row(pool, survivor))["status"] == "new"
            await until_status(client, await client.cancel(survivor), DONE)
            await check_invariants(pool)
    finally:
        with contextlib.suppress(Exception):
            await set_mode(pool, account, StpMode.CANCEL_NEWEST, "test")
            await sell_back(client, Decimal(20))
            await client.logout()
