"""The whole system as real processes with their ops ports: the order path's processes (exchange, market data
ingestor, gateway: ``tests.integration.order_path``'s ``OrderPathEnv``) plus the audit shipper and the REST
API, each with /health, /ready and /metrics on a free port."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from redis.asyncio import Redis

from brokerage.services import free_port, wait_until_listening
from ledger.provisioning import seed_demo
from tests.integration.conftest import create_database, drop_database
from tests.integration.order_path.conftest import REPO, OrderPathEnv, _redis_db, _stop, wait_for_quotes

if TYPE_CHECKING:
    from tests.conftest import TestServers


@dataclass
class ObservedSystem:
    env: OrderPathEnv
    ports: dict[str, int]  # process -> its ops port (the API: its REST port)
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def url(self, process: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[process]}{path}"


def _start(env: OrderPathEnv, name: str, argv: list[str], port: int) -> subprocess.Popen[bytes]:
    data = env.root / name
    data.mkdir(exist_ok=True)
    log = data / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "brokerage.cli", *argv], cwd=REPO, env=env.env(data),
                                   stdout=out, stderr=subprocess.STDOUT)
    wait_until_listening(port, process, name, timeout=60, log=log)
    return process


@pytest.fixture(scope="package")
def observed(test_servers: TestServers, ledger_template_db: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObservedSystem]:
    name = f"observe_{uuid.uuid4().hex[:10]}"
    url = create_database(test_servers.database_url, name, template=ledger_template_db)
    root: Path = tmp_path_factory.mktemp("observability")
    (root / "clients").mkdir()
    ports = {p: free_port() for p in ("gateway", "exchange", "marketdata", "audit", "api")}
    env = OrderPathEnv(url, _redis_db(test_servers.redis_url, 14), root, extra_env={
        "BROKERAGE_GATEWAY_METRICS_PORT": str(ports["gateway"]),
        "BROKERAGE_EXCHANGE_METRICS_PORT": str(ports["exchange"]),
        "BROKERAGE_MARKETDATA_METRICS_PORT": str(ports["marketdata"]),
        "BROKERAGE_AUDIT_METRICS_PORT": str(ports["audit"]),
        "BROKERAGE_AUDIT_PORT": str(free_port()),
        "BROKERAGE_API_PORT": str(ports["api"]),
        "BROKERAGE_CLICKHOUSE_URL": "",
    })

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
    system = ObservedSystem(env, ports)
    try:
        env.start_exchange()
        env.start_marketdata()
        env.start_gateway()
        system.others.append(_start(env, "audit", ["audit", "run"], ports["audit"]))
        peers = [f"{p}=http://127.0.0.1:{ports[p]}/ready" for p in ("gateway", "exchange", "marketdata", "audit")]
        env.extra_env["BROKERAGE_READY_PEERS"] = json.dumps(peers)  # the system's readiness (ADR 016)
        system.others.append(_start(env, "api", ["api", "--port", str(ports["api"])], ports["api"]))
        asyncio.run(wait_for_quotes(env.redis_url))
        yield system
    finally:
        for process in system.others:
            _stop(process)
        env.stop_all()
        drop_database(test_servers.database_url, name)
