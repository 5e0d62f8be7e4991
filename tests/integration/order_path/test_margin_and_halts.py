"""Margin calls, liquidation and the market-wide circuit breaker, with quotes the test controls.

The gateway reads its quotes from a Redis database only this test writes (the real exchange still
matches every order); the true market is read from another database fed by the market data ingestor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from datetime import time as dt_time
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

import asyncpg
import pytest
from redis.asyncio import Redis

from gateway.oms.circuit_breaker import ET
from ledger.provisioning import seed_demo
from marketdata.quotes import Quote, now_us
from marketdata.redis_quotes import QuoteReader, QuoteWriter
from tests.integration.conftest import create_database, drop_database
from tests.integration.order_path.conftest import SYMBOLS, OrderPathEnv, _redis_db, until_status, wait_for_quotes

if TYPE_CHECKING:
    from tests.conftest import TestServers


def breaker_offset() -> float:
    """Seconds to add to now for the circuit breaker's clock to read 10:00 ET today."""
    now = datetime.now(UTC)
    return (datetime.combine(now.astimezone(ET).date(), dt_time(10, 0), ET) - now).total_seconds()


@pytest.fixture(scope="module")
def controlled(test_servers: TestServers, ledger_template_db: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OrderPathEnv, str]]:
    name = f"orders_{uuid.uuid4().hex[:10]}"
    url = create_database(test_servers.database_url, name, template=ledger_template_db)
    root = tmp_path_factory.mktemp("controlled")
    (root / "clients").mkdir()
    market_url = _redis_db(test_servers.redis_url, 9)
    env = OrderPathEnv(url, market_url, root)

    async def seed() -> None:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            await seed_demo(pool, root)
        finally:
            await pool.close()
        for db in (8, 9):
            redis = Redis.from_url(_redis_db(test_servers.redis_url, db))
            await redis.flushdb()
            await redis.aclose()

    asyncio.run(seed())
    try:
        env.start_exchange()
        env.start_marketdata()  # the true market, into db 9
        asyncio.run(wait_for_quotes(market_url))
        env.redis_url = _redis_db(test_servers.redis_url, 8)  # what the gateway sees
        # a long period: within the test only quote moves (pub/sub) can wake the margin monitor
        env.extra_env = {"BROKERAGE_MARGIN_MONITOR_INTERVAL_SECONDS": "600",
                         "BROKERAGE_MARGIN_CALL_GRACE_SECONDS": "2",
                         # the breaker's clock at 10:00 ET today: the 15:25 ET rule never decides the test
                         "BROKERAGE_CIRCUIT_BREAKER_CLOCK_OFFSET_SECONDS": str(breaker_offset())}
        env.start_gateway()
        yield env, market_url
    finally:
        env.stop_all()
        drop_database(test_servers.database_url, name)


class Feed:
    """Keeps the gateway's quotes fresh: the true market, or a price the test dictates."""

    def __init__(self, market: QuoteReader, writer: QuoteWriter) -> None:
        self.market, self.writer = market, writer
        self.override: dict[str, Quote] = {}
        self.task: asyncio.Task[None] | None = None

    async def publish(self) -> None:
        true = await self.market.get_many(list(SYMBOLS))
        quotes = [replace(self.override.get(s, q), prev_close=self.override[s].prev_close if s in self.override
                          else None, ingest_ts_us=now_us()) for s, q in true.items()]
        await self.writer.write(quotes)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.publish()
            await asyncio.sleep(0.3)


@pytest.fixture
async def feed(controlled: tuple[OrderPathEnv, str]) -> AsyncIterator[Feed]:
    env, market_url = controlled
    market, gateway_side = Redis.from_url(market_url, decode_responses=True), Redis.from_url(env.redis_url)
    feed = Feed(QuoteReader(market), QuoteWriter(gateway_side, publish=True))
    await feed.publish()
    feed.task = asyncio.create_task(feed.run())
    try:
        yield feed
    finally:
        feed.task.cancel()
        with contextlib.suppress(BaseException):
            await feed.task
        await market.aclose()
        await gateway_side.aclose()


async def eventually(check: object, timeout: float = 20) -> object:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        value = await check()  # type: ignore[operator]
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.2)


async def test_margin_call_then_liquidation_through_the_order_path(controlled: tuple[OrderPathEnv, str],
                                                                     feed: Feed) -> None:
    env, _ = controlled
    pool = await asyncpg.create_pool(env.database_url, min_size=1, max_size=2)
    client = await env.client("CLIENT4")  # margin account, 100,000 of cash
    try:
        true = await feed.market.get("MSFT")
        assert true is not None and true.ask is not None and true.mark is not None
        price = (true.ask * Decimal("1.01")).quantize(Decimal("0.01"), ROUND_DOWN)
        qty = int(Decimal(128_000) / price)  # ~128k of a real-priced stock: on margin
        cl = await client.new_order_single("MSFT", "buy", qty, "limit", price=price)
        filled = await until_status(client, cl, {"2", "8"})
        assert filled.ord_status == "2", filled.text
        # the market (as the gateway sees it) falls 75%: equity under the 30% maintenance requirement
        low = (true.mark / 4).quantize(Decimal("0.01"))
        feed.override["MSFT"] = replace(true, bid=low, ask=low, last=low, prev_close=None)
        await feed.publish()
        since = await eventually(lambda: pool.fetchval(
            "SELECT margin_call_since FROM accounts WHERE account_id = 'ACC-CLIENT4'"))
        assert since is not None
        call = await pool.fetchrow("SELECT payload FROM outbox WHERE event_type = 'risk.margin_call' "
                                   "AND account_id = 'ACC-CLIENT4'")
        assert call is not None and "margin call: equity" in call["payload"]
        # after the grace period: market sells through the same path, visible to the client
        liquidation = await client.wait_for(lambda m: m.msg_type == "8" and (m.get(11) or "").startswith("LIQ-")
                                            and m.get(39) == "2", timeout=20)
        assert liquidation.get(54) == "2" and liquidation.get(40) == "1"
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'risk.liquidation' "
                                   "AND account_id = 'ACC-CLIENT4'") >= 1
        held = await pool.fetchval("SELECT qty FROM holdings WHERE account_id = 'ACC-CLIENT4' AND symbol = 'MSFT'")
        assert held < qty
        # prices come back: the call is met and cleared
        feed.override.clear()
        await feed.publish()
        await eventually(lambda: pool.fetchval(
            "SELECT margin_call_since IS NULL FROM accounts WHERE account_id = 'ACC-CLIENT4'"))
    finally:
        await client.logout()
        await pool.close()


async def test_circuit_breaker_halts_new_orders(controlled: tuple[OrderPathEnv, str], feed: Feed) -> None:
    env, _ = controlled
    pool = await asyncpg.create_pool(env.database_url, min_size=1, max_size=2)
    client = await env.client("CLIENT1")
    try:
        true = await feed.market.get_many(list(SYMBOLS))
        # every symbol 8% under its previous close: the index is down 8%, a level 1 halt
        for symbol, quote in true.items():
            assert quote.mark is not None
            feed.override[symbol] = replace(quote, prev_close=quote.mark, last=quote.mark * Decimal("0.92"))
        await feed.publish()
        await eventually(lambda: pool.fetchval("SELECT engaged FROM trading_controls WHERE name = 'halt'"))
        event = await pool.fetchrow("SELECT payload FROM outbox WHERE event_type = 'risk.halt'")
        assert event is not None and "circuit breaker level 1" in event["payload"]
        quote = true["AAPL"]
        assert quote.bid is not None
        cl = await client.new_order_single("AAPL", "buy", 1, "limit", price=quote.bid.quantize(Decimal("0.01")))
        report = await client.next_execution_report(cl)
        assert (report.ord_status, report.ord_rej_reason) == ("8", 2)
        assert report.text and report.text.startswith("trading halt")
    finally:
        feed.override.clear()
        await client.logout()
        await pool.close()
