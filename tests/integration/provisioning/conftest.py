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
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from fixclient import FixClient
from fixclient.errors import FixError
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.system import (  # noqa: F401 -- pool_fixture, quotes_fixture: fixtures
    REPO,
    OrderPathEnv,
    pool_fixture,
    quotes_fixture,
    running_system,
)

if TYPE_CHECKING:
    from tests.conftest import TestServers


@pytest.fixture(scope="package")
def env(test_servers: TestServers, ledger_template_db: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrderPathEnv]:
    with running_system(test_servers, ledger_template_db, tmp_path_factory.mktemp("provisioning"), 8,
                        name_prefix="prov") as environment:
        yield environment


@pytest.fixture
def system_env(env: OrderPathEnv) -> OrderPathEnv:
    """The env of the shared ``pool`` and ``quotes`` fixtures."""
    return env


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
