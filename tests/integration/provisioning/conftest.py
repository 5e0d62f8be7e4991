"""Provisioning while the system runs: the real exchange, market data and gateway processes of the order-path
tests (``OrderPathEnv``), in a database of their own; the CLI runs as a subprocess, the REST API in process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from redis.asyncio import Redis

from fixclient import FixClient
from fixclient.errors import FixError
from ledger.provisioning import seed_demo
from marketdata.redis_quotes import QuoteReader
from tests.integration.conftest import create_database, drop_database
from tests.integration.order_path.conftest import REPO, OrderPathEnv, _redis_db, wait_for_quotes

if TYPE_CHECKING:
    from tests.conftest import TestServers


@pytest.fixture(scope="package")
def env(test_servers: TestServers, ledger_template_db: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrderPathEnv]:
    name = f"prov_{uuid.uuid4().hex[:10]}"
    url = create_database(test_servers.database_url, name, template=ledger_template_db)
    root = tmp_path_factory.mktemp("provisioning")
    (root / "clients").mkdir()
    environment = OrderPathEnv(url, _redis_db(test_servers.redis_url, 8), root)

    async def seed() -> None:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            await seed_demo(pool, root)
        finally:
            await pool.close()
        redis = Redis.from_url(environment.redis_url)
        await redis.flushdb()
        await redis.aclose()

    asyncio.run(seed())
    try:
        environment.start_exchange()
        environment.start_marketdata()
        environment.start_gateway()
        asyncio.run(wait_for_quotes(environment.redis_url))
        yield environment
    finally:
        environment.stop_all()
        drop_database(test_servers.database_url, name)


@pytest.fixture
async def pool(env: OrderPathEnv) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(env.database_url, min_size=1, max_size=4)
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture
async def quotes(env: OrderPathEnv) -> AsyncIterator[QuoteReader]:
    redis = Redis.from_url(env.redis_url, decode_responses=True)
    try:
        yield QuoteReader(redis)
    finally:
        await redis.aclose()


def cli(env: OrderPathEnv, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`brokerage <args>` against the running system's database (a separate process, as an operator runs it)."""
    result = subprocess.run([sys.executable, "-m", "brokerage.cli", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=120, env={**env.env(env.root / "cli"), "USER": "ops-test"})
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def cli_json(env: OrderPathEnv, *args: str) -> Any:
    return json.loads(cli(env, *args, "--format", "json").stdout)


def password_file(root: Path, password: str) -> Path:
    path = root / f"pw-{uuid.uuid4().hex[:8]}"
    path.write_text(password + "\n")
    os.chmod(path, 0o600)
    return path


async def connect(env: OrderPathEnv, comp_id: str, password: str) -> FixClient:
    return await FixClient.connect("127.0.0.1", env.fix_port, comp_id, "BROKER", password=password,
                                   store_path=env.root / "clients" / f"{comp_id}.seq")


async def logon(env: OrderPathEnv, comp_id: str, password: str) -> FixClient:
    client = await connect(env, comp_id, password)
    try:
        await client.logon()
    except BaseException:
        await client.close()
        raise
    return client


async def logon_within(env: OrderPathEnv, comp_id: str, password: str, seconds: float = 30) -> FixClient:
    """Log on, retrying until ``seconds`` have passed (the gateway picks new rows up within a few seconds)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await logon(env, comp_id, password)
        except (FixError, OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def buy_marketable(client: FixClient, quotes: QuoteReader, symbol: str = "F", qty: int = 3) -> str:
    quote = await quotes.get(symbol)
    assert quote is not None and quote.ask is not None
    price = (quote.ask * Decimal("1.02")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    return await client.new_order_single(symbol, "buy", qty, "limit", price=price)


async def outbox(pool: asyncpg.Pool, event_type: str, **match: str) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT payload FROM outbox WHERE event_type = $1 ORDER BY seq", event_type)
    payloads = [json.loads(r["payload"]) if isinstance(r["payload"], str) else dict(r["payload"]) for r in rows]
    return [p for p in payloads if all(p.get(k) == v for k, v in match.items())]


async def until(predicate: Any, seconds: float = 20, what: str = "condition") -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds}s")
        await asyncio.sleep(0.3)
