"""The whole order path as real processes: exchange, market data ingestor and gateway on free ports,
a PostgreSQL database cloned from the migrated template and seeded with the demo accounts, Redis quotes.

One environment for the package (starting the processes costs seconds; modules that need other settings
build their own): tests check invariants that hold whatever ran before them, and read the figures they
compare against from the ledger rather than assuming a fresh account.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from redis.asyncio import Redis

from brokerage.services import free_port, wait_until_listening
from fixclient import FixClient
from fixclient.messages import ExecutionReport
from ledger.provisioning import seed_demo
from ledger.reconcile import reconcile
from marketdata.redis_quotes import QuoteReader
from tests.integration.conftest import create_database, drop_database

if TYPE_CHECKING:
    from tests.conftest import TestServers

REPO = Path(__file__).resolve().parents[3]
SYMBOLS = ("AAPL", "MSFT", "F")
PASSWORDS = {f"CLIENT{n}": f"demo{n}" for n in range(1, 6)}
TERMINAL = {"2", "4", "8", "C"}
OPEN = "'pending_new', 'new', 'partially_filled', 'pending_cancel', 'pending_replace'"


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
                [sys.executable, "-m", "brokerage.cli", "exchange", "--port", str(self.exchange_port), "--seed", "11",
                 "--symbols", ",".join(SYMBOLS), "--step", "0.2", "--taker-probability", "0"],
                cwd=REPO, env=self.env(data), stdout=out, stderr=subprocess.STDOUT)
        _wait_port(self.exchange, self.exchange_port, log, "exchange")

    def start_marketdata(self) -> None:
        data = self.root / "marketdata"
        data.mkdir(exist_ok=True)
        log = data / "marketdata.log"
        with log.open("ab") as out:
            self.marketdata = subprocess.Popen(
                [sys.executable, "-m", "brokerage.cli", "marketdata", "--symbols", ",".join(SYMBOLS)],
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


@pytest.fixture(scope="package")
def order_path_env(test_servers: TestServers, ledger_template_db: str,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrderPathEnv]:
    name = f"orders_{uuid.uuid4().hex[:10]}"
    url = create_database(test_servers.database_url, name, template=ledger_template_db)
    root = tmp_path_factory.mktemp("order_path")
    (root / "clients").mkdir()
    env = OrderPathEnv(url, _redis_db(test_servers.redis_url, 7), root)

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


@pytest.fixture
async def pool(order_path_env: OrderPathEnv) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(order_path_env.database_url, min_size=1, max_size=4)
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture
async def quotes(order_path_env: OrderPathEnv) -> AsyncIterator[QuoteReader]:
    redis = Redis.from_url(order_path_env.redis_url, decode_responses=True)
    try:
        yield QuoteReader(redis)
    finally:
        await redis.aclose()


async def until_final(client: FixClient, cl_ord_id: str, timeout: float = 10) -> ExecutionReport:  # noqa: ASYNC109
    """Reports for ``cl_ord_id`` until one with a terminal OrdStatus (returned)."""
    deadline = time.monotonic() + timeout
    while True:
        report = await client.next_execution_report(cl_ord_id, timeout=max(0.1, deadline - time.monotonic()))
        if report.ord_status in TERMINAL:
            return report


async def until_status(client: FixClient, cl_ord_id: str, statuses: set[str], timeout: float = 10,  # noqa: ASYNC109
                       ) -> ExecutionReport:
    deadline = time.monotonic() + timeout
    while True:
        report = await client.next_execution_report(cl_ord_id, timeout=max(0.1, deadline - time.monotonic()))
        if report.ord_status in statuses:
            return report


async def check_invariants(pool: asyncpg.Pool) -> None:
    """What must hold after any sequence of events: blocks equal the open orders' reservations, the journal
    replays to the balances, cash accounts never negative, each venue ExecID booked once."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(f"""
            SELECT c.account_id, c.blocked,
                   coalesce((SELECT sum(reserved_cash) FROM orders o WHERE o.account_id = c.account_id
                             AND o.status IN ({OPEN})),
                            0) AS reserved
            FROM cash_balances c""")
        for row in rows:
            assert row["blocked"] == row["reserved"], dict(row)
        rows = await conn.fetch(f"""
            SELECT h.account_id, h.symbol, h.blocked_qty,
                   coalesce((SELECT sum(reserved_qty) FROM orders o WHERE o.account_id = h.account_id
                             AND o.symbol = h.symbol
                             AND o.status IN ({OPEN})),
                            0) AS reserved
            FROM holdings h""")
        for row in rows:
            assert row["blocked_qty"] == row["reserved"], dict(row)
        finished = await conn.fetchval(
            "SELECT count(*) FROM orders WHERE status IN ('filled','canceled','rejected','expired') "
            "AND (reserved_cash <> 0 OR reserved_qty <> 0)")
        assert finished == 0
        negative = await conn.fetch(
            "SELECT account_id, amount FROM cash_balances WHERE account_type = 'cash' AND amount < 0")
        assert not negative
        fills = await conn.fetchval("SELECT count(*) FROM executions WHERE exec_type = 'trade'")
        entries = await conn.fetchval("SELECT count(*) FROM journal_entries WHERE kind = 'fill'")
        assert fills == entries
        qty = await conn.fetch("""
            SELECT o.order_id, o.cum_qty, coalesce(sum(e.last_qty), 0) AS filled FROM orders o
            LEFT JOIN executions e ON e.order_id = o.order_id AND e.exec_type = 'trade'
            GROUP BY o.order_id HAVING o.cum_qty <> coalesce(sum(e.last_qty), 0)""")
        assert not qty, [dict(r) for r in qty]
    assert await reconcile(pool) == []


def dec(value: str | None) -> Decimal:
    assert value is not None
    return Decimal(value)
