"""Fixtures: the real gateway process with low per-session limits (ADR 007), the real exchange process
with link authentication on, and the raw wire client of tests/integration/fix."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "fix"))

from fix_limits_support import ExchangeProcess, exchange_env
from gateway_process import GatewayProcess, seed_sessions

from brokerage.services import free_port, wait_until_listening
from tests.integration.order_path.system import command

if TYPE_CHECKING:
    from tests.conftest import TestServers

REPO = Path(__file__).resolve().parents[3]

# Low enough to reach in a test with a few dozen messages, high enough for a normal exchange of messages.
LIMITS = {
    "BROKERAGE_FIX_APP_MESSAGES_PER_SECOND": "2",
    "BROKERAGE_FIX_APP_BURST": "8",
    "BROKERAGE_FIX_ADMIN_MESSAGES_PER_SECOND": "1",
    "BROKERAGE_FIX_ADMIN_BURST": "6",
    "BROKERAGE_FIX_RESEND_MAX_MESSAGES": "3",
    "BROKERAGE_FIX_MD_MAX_SUBSCRIPTIONS": "2",
    "BROKERAGE_FIX_MD_MAX_SNAPSHOT_SYMBOLS": "2",
}


@pytest.fixture
def seeded_db(migrated_db_url: str) -> str:
    asyncio.run(seed_sessions(migrated_db_url))
    return migrated_db_url


@pytest.fixture
def limited_gateway(seeded_db: str, test_servers: TestServers, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayProcess]:
    monkeypatch.setenv("BROKERAGE_REDIS_URL", test_servers.redis_url)
    for key, value in LIMITS.items():
        monkeypatch.setenv(key, value)
    process = GatewayProcess(seeded_db, tmp_path)
    process.start()
    try:
        yield process
    finally:
        status = process.stop()
        assert status == 0, f"gateway exit status {status}:\n{process.log()}"
        assert "fix.callback_failed" not in process.log(), process.log()


@pytest.fixture
def start_exchange(tmp_path: Path) -> Iterator[Callable[..., ExchangeProcess]]:
    started: list[ExchangeProcess] = []
    port = free_port()

    def start(secrets_dir: Path | None = None) -> ExchangeProcess:
        """``secrets_dir``: generated passwords shared through that directory instead of the fixed ones."""
        data_dir = tmp_path / "exchange"
        data_dir.mkdir(exist_ok=True)
        log = data_dir / f"exchange-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command("exchange", "--port", str(port), "--symbols", "AAPL,MSFT", "--taker-probability", "0"),
                cwd=REPO, env=exchange_env(data_dir, port, secrets_dir), stdout=out,
                stderr=subprocess.STDOUT)
        wait_until_listening(port, process, "exchange", timeout=60, log=log)
        started.append(ExchangeProcess(port, data_dir, process, log))
        return started[-1]

    try:
        yield start
    finally:
        for exchange in started:
            exchange.stop()
