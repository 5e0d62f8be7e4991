"""One set of real processes for the halts and margin tests: exchange, market data ingestor (the true market,
Redis db 11) and a gateway reading quotes from Redis db 10, which only the tests' ``Feed`` writes. Settings:
a 4 s circuit breaker window, the breaker's clock set to 10:00 ET today (so the 15:25 ET rule never gets in
the way, whatever the hour the suite runs), a 2 s margin grace, 3 s max quote age, 8 s between liquidation
attempts of a margin call, and a margin check every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import asyncpg
import pytest
from redis.asyncio import Redis

from marketdata.redis_quotes import QuoteReader, QuoteWriter
from tests.integration.order_path.system import REPO, OrderPathEnv, _redis_db, running_system, wait_for_quotes
from tests.integration.order_path.test_margin_and_halts import Feed, breaker_offset

if TYPE_CHECKING:
    from tests.conftest import TestServers

HALT_WINDOW = 4.0
RETRY = 8.0


@pytest.fixture(scope="package")
def halt_env(test_servers: TestServers, ledger_template_db: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OrderPathEnv, str]]:
    market_url = _redis_db(test_servers.redis_url, 11)

    def start(env: OrderPathEnv) -> None:
        env.start_exchange()
        env.start_marketdata()
        asyncio.run(wait_for_quotes(market_url))
        env.redis_url = _redis_db(test_servers.redis_url, 10)
        env.extra_env = {"BROKERAGE_CIRCUIT_BREAKER_HALT_SECONDS": str(HALT_WINDOW),
                         "BROKERAGE_CIRCUIT_BREAKER_CLOCK_OFFSET_SECONDS": str(breaker_offset()),
                         "BROKERAGE_MARGIN_MONITOR_INTERVAL_SECONDS": "1",
                         "BROKERAGE_MARGIN_CALL_GRACE_SECONDS": "2",
                         "BROKERAGE_MARGIN_QUOTE_MAX_AGE_SECONDS": "3",
                         "BROKERAGE_MARGIN_LIQUIDATION_RETRY_SECONDS": str(RETRY)}
        env.start_gateway()

    with running_system(test_servers, ledger_template_db, tmp_path_factory.mktemp("halts_margin"), 11,
                        name_prefix="halts", flush_dbs=(10, 11), start=start) as env:
        yield env, market_url


@pytest.fixture
async def feed(halt_env: tuple[OrderPathEnv, str]) -> AsyncIterator[Feed]:
    env, market_url = halt_env
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


@pytest.fixture
async def db(halt_env: tuple[OrderPathEnv, str]) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(halt_env[0].database_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


def brokerage(env: OrderPathEnv, *args: str) -> str:
    """Run a `brokerage` command against the test database (another process, like an operator)."""
    result = subprocess.run([sys.executable, "-m", "brokerage.cli", *args], cwd=REPO,
                            env={**os.environ, "BROKERAGE_DATABASE_URL": env.database_url},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout
