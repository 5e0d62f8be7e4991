"""The whole system as real processes with their ops ports: the order path's processes (exchange, market data
ingestor, gateway: ``tests.integration.order_path``'s ``OrderPathEnv``) plus the audit shipper and the REST
API, each with /health, /ready and /metrics on a free port."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from brokerage.services import free_port, wait_until_listening
from tests.integration.order_path.system import REPO, OrderPathEnv, _stop, running_system, wait_for_quotes

if TYPE_CHECKING:
    from tests.conftest import TestServers


@dataclass
class ObservedEnv(OrderPathEnv):
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)  # the audit shipper and the REST API

    def stop_all(self) -> None:
        for process in self.others:
            _stop(process)
        super().stop_all()


@dataclass
class ObservedSystem:
    env: ObservedEnv
    ports: dict[str, int]  # process -> its ops port (the API: its REST port)

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


def _start_observed(env: ObservedEnv, ports: dict[str, int]) -> None:
    env.start_exchange()
    env.start_marketdata()
    env.start_gateway()
    env.others.append(_start(env, "audit", ["audit", "run"], ports["audit"]))
    peers = [f"{p}=http://127.0.0.1:{ports[p]}/ready" for p in ("gateway", "exchange", "marketdata", "audit")]
    env.extra_env["BROKERAGE_READY_PEERS"] = json.dumps(peers)  # the system's readiness (ADR 016)
    env.others.append(_start(env, "api", ["api", "--port", str(ports["api"])], ports["api"]))
    asyncio.run(wait_for_quotes(env.redis_url))


@pytest.fixture(scope="package")
def observed(test_servers: TestServers, ledger_template_db: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObservedSystem]:
    ports = {p: free_port() for p in ("gateway", "exchange", "marketdata", "audit", "api")}
    extra_env = {
        "BROKERAGE_GATEWAY_METRICS_PORT": str(ports["gateway"]),
        "BROKERAGE_EXCHANGE_METRICS_PORT": str(ports["exchange"]),
        "BROKERAGE_MARKETDATA_METRICS_PORT": str(ports["marketdata"]),
        "BROKERAGE_AUDIT_METRICS_PORT": str(ports["audit"]),
        "BROKERAGE_AUDIT_PORT": str(free_port()),
        "BROKERAGE_API_PORT": str(ports["api"]),
        "BROKERAGE_CLICKHOUSE_URL": "",
    }

    def observed_env(url: str, redis_url: str, root: Path) -> ObservedEnv:
        return ObservedEnv(url, redis_url, root, extra_env=extra_env)

    with running_system(test_servers, ledger_template_db, tmp_path_factory.mktemp("observability"), 14,
                        env_factory=observed_env, name_prefix="observe",
                        start=lambda env: _start_observed(env, ports)) as env:
        yield ObservedSystem(env, ports)
