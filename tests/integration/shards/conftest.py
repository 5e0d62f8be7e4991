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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from brokerage.services import free_port, wait_until_listening
from fixclient import FixClient
from gateway.shards import Placement
from ledger.provisioning import ensure_fix_session
from tests.integration.order_path.system import (  # noqa: F401 -- pool_fixture, quotes_fixture: fixtures
    PASSWORDS,
    REPO,
    OrderPathEnv,
    _stop,
    pool_fixture,
    quotes_fixture,
    running_system,
    wait_for_quotes,
)

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


async def _extra_sessions(pool: asyncpg.Pool) -> None:
    for comp, account in EXTRA.items():
        await ensure_fix_session(pool, comp, SESSION_PASSWORDS[comp], [account])


def _start_sharded(env: ShardedEnv) -> None:
    env.start_exchange()
    env.start_marketdata()
    for index in range(SHARDS):
        env.start_shard(index)
    env.start_frontdoor()
    asyncio.run(wait_for_quotes(env.redis_url))


@pytest.fixture(scope="package")
def sharded_env(test_servers: TestServers, ledger_template_db: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShardedEnv]:
    with running_system(test_servers, ledger_template_db, tmp_path_factory.mktemp("shards"), 8,
                        env_factory=ShardedEnv, name_prefix="shards", seed=_extra_sessions,
                        start=_start_sharded) as env:
        yield env


@pytest.fixture
def system_env(sharded_env: ShardedEnv) -> ShardedEnv:
    """The env of the shared ``pool`` and ``quotes`` fixtures."""
    return sharded_env
