"""Fixtures for the front door's black-box tests: the real gateway process (tests/integration/fix's
GatewayProcess) with front-door settings from the environment, raw sockets from chosen sources."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "fix"))

from gateway_process import GatewayProcess, seed_sessions

StartGateway = Callable[..., GatewayProcess]


@pytest.fixture
def seeded_db(migrated_db_url: str) -> str:
    asyncio.run(seed_sessions(migrated_db_url))
    return migrated_db_url


@pytest.fixture
def start_gateway(seeded_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StartGateway]:
    """``start_gateway(FIX_MAX_CONNECTIONS_PER_IP="5", ...)``: the gateway with BROKERAGE_* overrides."""
    started: list[GatewayProcess] = []

    def start(process: GatewayProcess | None = None, **settings: str) -> GatewayProcess:
        for key, value in settings.items():
            monkeypatch.setenv(f"BROKERAGE_{key}", value)
        gateway = process or GatewayProcess(seeded_db, tmp_path)
        gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        status = gateway.stop()
        assert status == 0, f"gateway exit status {status}:\n{gateway.log()}"
