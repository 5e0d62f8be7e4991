"""Two gateway shards behind one front door, on one ledger (docs/adr/015-gateway-shards.md).

Processes: the exchange (accepting GATEWAY and GATEWAY-2), the market data ingestor, `brokerage
gateway --shard 0/2` and `--shard 1/2` (each its own data dir, QuickFIX port and exchange link) and
`brokerage frontdoor` on fix_port. Besides the demo sessions (CLIENT1-3 land on shard 0, CLIENT4-5 on
shard 1) one extra session per shard trades an account whose own session lives on the other shard, so
both shards enter orders for the same accounts at once.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from redis.asyncio import Redis

from brokerage.services import free_port, wait_until_listening
from fixclient import FixClient
from gateway.shards import Placement
from ledger.provisioning import ensure_fix_session, seed_demo
from marketdata.redis_quotes import QuoteReader
from tests.integration.conftest import create_database, drop_database
from tests.integration.order_path.conftest import PASSWORDS, REPO, OrderPathEnv, _redis_db, _stop, wait_for_quotes

if TYPE_CHECKING:
    from tests.conftest import TestServers

SHARDS = 2


def extra_session(shard: int, account: str) -> str:
    """A CompID placed on ``shard`` (found by trying names: the placement is the production hash)."""
    n = 0
    while Placement(SHARDS).shard_of(name := f"X{account.removeprefix('ACC-')}-{n}") != shard:
        n += 1
    return name


# the shard-0 session CLIENT1's account is also traded from shard 1, CLIENT4's (shard 1) from shard 0
EXTRA = {extra_session(1, "ACC-CLIENT1"): "ACC-CLIENT1", extra_session(0, "ACC-CLIENT4"): "ACC-CLIENT4"}
SESSION_PASSWORDS = {**PASSWORDS, **{comp: f"pw-{comp.lower()}" for comp in EXTRA}}


@dataclass
class ShardedEnv(OrderPathEnv):
    backends: list[int] = field(default_factory=lambda: [free_port() for _ in range(SHARDS)])
    shards: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    frontdoor: subprocess.Popen[bytes] | None = None
    shard_logs: dict[int, list[Path]] = field(default_factory=dict)

    def env(self, data_dir: Path) -> dict[str, str]:
        return {**super().env(data_dir),
                "BROKERAGE_GATEWAY_SHARD_BACKENDS": json.dumps([f"127.0.0.1:{port}" for port in self.backends])}

    def start_shard(self, index: int) -> None:
        data = self.root / f"gateway-shard-{index}"
        data.mkdir(exist_ok=True)
        logs = self.shard_logs.setdefault(index, [])
        log = data / f"gateway-{len(logs)}.log"
        logs.append(log)
        with log.open("ab") as out:
            self.shards[index] = subprocess.Popen(
                [sys.executable, "-m", "brokerage.cli", "gateway", "--shard", f"{index}/{SHARDS}"], cwd=REPO,
                env=self.env(data), stdout=out, stderr=subprocess.STDOUT)
        wait_until_listening(self.backends[index], self.shards[index], f"gateway shard {index}", timeout=90,
                             log=log)

    def start_frontdoor(self) -> None:
        data = self.root / "frontdoor"
        data.mkdir(exist_ok=True)
        log = data / "frontdoor.log"
        with log.open("ab") as out:
            self.frontdoor = subprocess.Popen([sys.executable, "-m", "brokerage.cli", "frontdoor"], cwd=REPO,
                                              env=self.env(data), stdout=out, stderr=subprocess.STDOUT)
        wait_until_listening(self.fix_port, self.frontdoor, "front door", timeout=60, log=log)

    def kill_shard(self, index: int) -> None:
        self.shards[index].kill()
        self.shards[index].wait()

    def shard_log(self, index: int) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.shard_logs.get(index, []) if p.exists())

    def stop_all(self) -> None:
        for process in (self.frontdoor, *self.shards.values(), self.marketdata, self.exchange):
            _stop(process)

    async def client(self, comp_id: str) -> FixClient:
        client = await FixClient.connect("127.0.0.1", self.fix_port, comp_id, "BROKER",
                                         password=SESSION_PASSWORDS[comp_id],
                                         store_path=self.root / "clients" / f"{comp_id}.seq")
        await client.logon()
        return client


@pytest.fixture(scope="package")
def sharded_env(test_servers: TestServers, ledger_template_db: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShardedEnv]:
    name = f"shards_{uuid.uuid4().hex[:10]}"
    url = create_database(test_servers.database_url, name, template=ledger_template_db)
    root = tmp_path_factory.mktemp("shards")
    (root / "clients").mkdir()
    env = ShardedEnv(url, _redis_db(test_servers.redis_url, 8), root)

    async def seed() -> None:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            await seed_demo(pool, root)
            for comp, account in EXTRA.items():
                await ensure_fix_session(pool, comp, SESSION_PASSWORDS[comp], [account])
        finally:
            await pool.close()
        redis = Redis.from_url(env.redis_url)
        await redis.flushdb()
        await redis.aclose()

    asyncio.run(seed())
    try:
        env.start_exchange()
        env.start_marketdata()
        for index in range(SHARDS):
            env.start_shard(index)
        env.start_frontdoor()
        asyncio.run(wait_for_quotes(env.redis_url))
        yield env
    finally:
        env.stop_all()
        drop_database(test_servers.database_url, name)


@pytest.fixture
async def pool(sharded_env: ShardedEnv) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(sharded_env.database_url, min_size=1, max_size=4)
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture
async def quotes(sharded_env: ShardedEnv) -> AsyncIterator[QuoteReader]:
    redis = Redis.from_url(sharded_env.redis_url, decode_responses=True)
    try:
        yield QuoteReader(redis)
    finally:
        await redis.aclose()
