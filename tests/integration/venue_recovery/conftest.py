"""Exchange crashes and the trading day's close on real processes: the order path's environment (exchange,
market data, gateway, PostgreSQL, Redis; see ``tests/integration/order_path/conftest.py``) plus kill -9,
restart and "close the day now" (SIGUSR1) of the exchange, and a look into the exchange's journal."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from redis.asyncio import Redis

from exchange.durable import DurableVenue
from exchange.journal import Journal
from exchange.state import VenueState
from ledger.provisioning import seed_demo
from marketdata.redis_quotes import QuoteReader
from tests.integration.conftest import create_database, drop_database
from tests.integration.order_path.conftest import OrderPathEnv, _redis_db, wait_for_quotes

if TYPE_CHECKING:
    from tests.conftest import TestServers


class VenueEnv(OrderPathEnv):
    @property
    def exchange_state_dir(self) -> Path:
        return self.root / "exchange" / "exchange"

    def kill_exchange(self) -> None:
        assert self.exchange is not None
        self.exchange.kill()  # SIGKILL: no shutdown code runs
        self.exchange.wait()

    def stop_exchange_cleanly(self) -> None:
        from tests.integration.order_path.conftest import _stop

        _stop(self.exchange)

    def close_day(self) -> None:
        assert self.exchange is not None
        os.kill(self.exchange.pid, signal.SIGUSR1)

    def exchange_log(self) -> str:
        path = self.root / "exchange" / "exchange.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def venue_state(self) -> VenueState:
        """The exchange's state as its journal has it (call with the exchange stopped)."""

        def refuse() -> VenueState:
            raise AssertionError("the exchange journal has no snapshot")

        return DurableVenue.open(Journal(self.exchange_state_dir / "journal", fsync=False), refuse).durable.state

    async def wait_log(self, text: str, count: int, timeout: float = 60) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.gateway_log().count(text) >= count:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{text!r} not logged {count} times by the gateway")


@pytest.fixture(scope="package")
def venue_env(test_servers: TestServers, ledger_template_db: str,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[VenueEnv]:
    name = f"venue_{uuid.uuid4().hex[:10]}"
    url = create_database(test_servers.database_url, name, template=ledger_template_db)
    root = tmp_path_factory.mktemp("venue_recovery")
    (root / "clients").mkdir()
    env = VenueEnv(url, _redis_db(test_servers.redis_url, 13), root)

    async def seed() -> None:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            await seed_demo(pool, root)
        finally:
            await pool.close()
        redis = Redis.from_url(env.redis_url)
        await redis.flushdb()
        await redis.aclose()

    asyncio.run(seed())
    try:
        env.start_exchange()
        env.start_marketdata()
        env.start_gateway()
        asyncio.run(wait_for_quotes(env.redis_url))
        yield env
    finally:
        env.stop_all()
        drop_database(test_servers.database_url, name)


@pytest.fixture
async def pool(venue_env: VenueEnv) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(venue_env.database_url, min_size=1, max_size=4)
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture
async def quotes(venue_env: VenueEnv) -> AsyncIterator[QuoteReader]:
    redis = Redis.from_url(venue_env.redis_url, decode_responses=True)
    try:
        yield QuoteReader(redis)
    finally:
        await redis.aclose()


async def reconciled_events(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT payload::text AS p FROM outbox WHERE event_type = 'order.reconciled' "
                            "ORDER BY occurred_at")
    import json

    return [json.loads(r["p"]) for r in rows]
