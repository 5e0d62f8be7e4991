"""Exchange crashes and the trading day's close on real processes: the order path's environment (exchange,
market data, gateway, PostgreSQL, Redis; see ``tests/integration/order_path/conftest.py``) plus kill -9,
restart and "close the day now" (SIGUSR1) of the exchange, and a look into the exchange's journal."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from exchange.durable import DurableVenue
from exchange.journal import Journal
from exchange.state import VenueState
from tests.integration.order_path.system import (  # noqa: F401 -- pool_fixture, quotes_fixture: fixtures
    OrderPathEnv,
    pool_fixture,
    quotes_fixture,
    running_system,
)

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
    with running_system(test_servers, ledger_template_db, tmp_path_factory.mktemp("venue_recovery"), 13,
                        env_factory=VenueEnv, name_prefix="venue") as env:
        yield env


@pytest.fixture
def system_env(venue_env: VenueEnv) -> VenueEnv:
    """The env of the shared ``pool`` and ``quotes`` fixtures."""
    return venue_env


async def reconciled_events(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT payload::text AS p FROM outbox WHERE event_type = 'order.reconciled' "
                            "ORDER BY occurred_at")
    import json

    return [json.loads(r["p"]) for r in rows]
