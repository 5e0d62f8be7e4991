"""Starting a whole order-path system for tests: the processes (``OrderPathEnv``: exchange, market data ingestor,
gateway on free ports), a PostgreSQL database cloned from the migrated template and seeded with the demo
accounts, a flushed Redis db; ``running_system`` brings it all up and takes it down again.

Every test folder that needs real processes imports from here (``from tests.integration.order_path.system
import ...``); folders differ only in parameters: the env class, the Redis db, extra seeding, what to start.
The ``pool`` and ``quotes`` fixtures (import ``pool_fixture``, ``quotes_fixture`` into a conftest) work on
whatever env that conftest names ``system_env``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import asyncpg
import pytest
from redis.asyncio import Redis

from brokerage.services import free_port, wait_until_listening
from fixclient import FixClient
from ledger.provisioning import seed_demo
from marketdata.redis_quotes import QuoteReader
from tests.integration.conftest import create_database, drop_database

if TYPE_CHECKING:
    from tests.conftest import TestServers

REPO = Path(__file__).resolve().parents[3]
SYMBOLS = ("AAPL", "MSFT", "F")
PASSWORDS = {f"CLIENT{n}": f"demo{n}" for n in range(1, 6)}


def command(name: str, *args: str) -> list[str]:
    """argv of ``brokerage <name> <args>`` run as its command alone (as the gateway's ``python -m
    brokerage.commands.gateway``): ``python -m brokerage.cli`` first imports every command (the REST API,
    alembic, QuickFIX...), about 4 s of CPU per process start on a busy 2-core machine against under 1 s for
    the exchange or market data command by itself. Same options, same code from there on."""
    return [sys.executable, "-c", f"import typer; from brokerage.commands.{name} import {name}; typer.run({name})",
            *args]


def _wait_port(process: subprocess.Popen[bytes], port: int, log: Path, what: str, timeout: float = 60) -> None:
    wait_until_listening(port, process, what, timeout=timeout, log=log)


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class OrderPathEnv:
    database_url: str
    redis_url: str
    root: Path
    exchange_port: int = field(default_factory=free_port)
    fix_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    exchange: subprocess.Popen[bytes] | None = None
    marketdata: subprocess.Popen[bytes] | None = None
    gateway: subprocess.Popen[bytes] | None = None
    gateway_logs: list[Path] = field(default_factory=list)

    def env(self, data_dir: Path) -> dict[str, str]:
        return {**os.environ, "BROKERAGE_DATA_DIR": str(data_dir), "BROKERAGE_DATABASE_URL": self.database_url,
                "BROKERAGE_REDIS_URL": self.redis_url, "BROKERAGE_EXCHANGE_PORT": str(self.exchange_port),
                "BROKERAGE_FIX_PORT": str(self.fix_port), "BROKERAGE_EXCHANGE_RECONNECT_SECONDS": "1",
                "BROKERAGE_LOG_FORMAT": "json", "BROKERAGE_TRADING_24H": "true", **self.extra_env}

    def start_exchange(self) -> None:
        data = self.root / "exchange"
        data.mkdir(exist_ok=True)
        log = data / "exchange.log"
        with log.open("ab") as out:
            self.exchange = subprocess.Popen(
                command("exchange", "--port", str(self.exchange_port), "--seed", "11",
                        "--symbols", ",".join(SYMBOLS), "--step", "0.2", "--taker-probability", "0"),
                cwd=REPO, env=self.env(data), stdout=out, stderr=subprocess.STDOUT)
        _wait_port(self.exchange, self.exchange_port, log, "exchange")

    def start_marketdata(self) -> None:
        data = self.root / "marketdata"
        data.mkdir(exist_ok=True)
        log = data / "marketdata.log"
        with log.open("ab") as out:
            self.marketdata = subprocess.Popen(
                command("marketdata", "--symbols", ",".join(SYMBOLS)),
                cwd=REPO, env=self.env(data), stdout=out, stderr=subprocess.STDOUT)

    def start_gateway(self) -> None:
        data = self.root / "gateway"
        data.mkdir(exist_ok=True)
        log = data / f"gateway-{len(self.gateway_logs)}.log"
        self.gateway_logs.append(log)
        with log.open("ab") as out:
            self.gateway = subprocess.Popen([sys.executable, "-m", "brokerage.commands.gateway"], cwd=REPO,
                                            env=self.env(data), stdout=out, stderr=subprocess.STDOUT)
        _wait_port(self.gateway, self.fix_port, log, "gateway")

    def kill_gateway(self) -> None:
        assert self.gateway is not None
        self.gateway.kill()
        self.gateway.wait()

    def stop_all(self) -> None:
        for process in (self.gateway, self.marketdata, self.exchange):
            _stop(process)

    def gateway_log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.gateway_logs if p.exists())

    async def client(self, comp_id: str) -> FixClient:
        client = await FixClient.connect("127.0.0.1", self.fix_port, comp_id, "BROKER",
                                         password=PASSWORDS[comp_id],
                                         store_path=self.root / "clients" / f"{comp_id}.seq")
        await client.logon()
        return client


def _redis_db(url: str, db: int) -> str:
    base, _, last = url.rpartition("/")
    return f"{base}/{db}" if last.isdigit() else f"{url.rstrip('/')}/{db}"


async def wait_for_quotes(redis_url: str, timeout: float = 30) -> None:  # noqa: ASYNC109
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        reader = QuoteReader(redis)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            quotes = await reader.get_many(list(SYMBOLS))
            if len(quotes) == len(SYMBOLS) and all(q.bid and q.ask for q in quotes.values()):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError("no quotes in Redis")
    finally:
        await redis.aclose()


@contextmanager
def ledger_database(test_servers: TestServers, template: str, name_prefix: str) -> Iterator[str]:
    """A database ``<name_prefix>_<random>`` cloned from ``template`` (its URL), dropped on exit."""
    name = f"{name_prefix}_{uuid.uuid4().hex[:10]}"
    url = create_database(test_servers.database_url, name, template=template)
    try:
        yield url
    finally:
        drop_database(test_servers.database_url, name)


async def seed_ledger(url: str, root: Path, flush: Iterable[str] = (),
                      seed: Callable[[asyncpg.Pool], Awaitable[None]] | None = None) -> None:
    """The demo accounts (and ``seed``'s extras) into the database at ``url``; the Redis dbs ``flush`` emptied."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        await seed_demo(pool, root)
        if seed is not None:
            await seed(pool)
    finally:
        await pool.close()
    for redis_url in flush:
        redis = Redis.from_url(redis_url)
        await redis.flushdb()
        await redis.aclose()


def start_order_path(env: OrderPathEnv) -> None:
    """Exchange, market data ingestor and gateway, then wait until Redis has quotes for every symbol."""
    env.start_exchange()
    env.start_marketdata()
    env.start_gateway()
    asyncio.run(wait_for_quotes(env.redis_url))


E = TypeVar("E", bound=OrderPathEnv)


@contextmanager
def running_system(test_servers: TestServers, template: str, root: Path, redis_db: int, *,
                   env_factory: Callable[[str, str, Path], E] = OrderPathEnv,  # type: ignore[assignment]
                   name_prefix: str = "orders", flush_dbs: Iterable[int] | None = None,
                   seed: Callable[[asyncpg.Pool], Awaitable[None]] | None = None,
                   start: Callable[[E], None] = start_order_path) -> Iterator[E]:
    """A seeded database of its own, Redis db ``redis_db`` flushed (or the dbs ``flush_dbs``), the processes
    ``start`` starts (by default the whole order path, quotes flowing); everything stopped and dropped on exit.
    ``root`` is the data directory (a ``clients`` directory for the FIX clients' stores is made in it)."""
    with ledger_database(test_servers, template, name_prefix) as url:
        (root / "clients").mkdir()
        env = env_factory(url, _redis_db(test_servers.redis_url, redis_db), root)
        dbs = (redis_db,) if flush_dbs is None else tuple(flush_dbs)
        flush = [_redis_db(test_servers.redis_url, db) for db in dbs]
        asyncio.run(seed_ledger(url, root, flush, seed))
        try:
            start(env)
            yield env
        finally:
            env.stop_all()


@asynccontextmanager
async def ledger_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield created
    finally:
        await created.close()


@asynccontextmanager
async def quote_reader(redis_url: str) -> AsyncIterator[QuoteReader]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        yield QuoteReader(redis)
    finally:
        await redis.aclose()


@pytest.fixture(name="pool")
async def pool_fixture(system_env: OrderPathEnv) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the running system's database (``system_env``: the env fixture of the importing conftest)."""
    async with ledger_pool(system_env.database_url) as created:
        yield created


@pytest.fixture(name="quotes")
async def quotes_fixture(system_env: OrderPathEnv) -> AsyncIterator[QuoteReader]:
    """The running system's Redis quotes."""
    async with quote_reader(system_env.redis_url) as reader:
        yield reader
