"""End-to-end tests in a real browser: Debian's Chromium (``scripts/ensure_chromium.sh`` installs it when missing
and running as root) driven by Playwright through ``executable_path`` (``playwright install`` is never run: it
downloads browsers). The system under test is the order path of ``tests/integration/order_path`` (PostgreSQL,
Redis, exchange, market data, gateway as real processes) plus ``brokerage api`` on a free port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import pytest

from brokerage.services import free_port, wait_until_listening
from ledger.credentials import hash_api_token, new_api_token
from tests.integration.conftest import ledger_template_db  # noqa: F401  (fixture, used by order_path_env)
from tests.integration.order_path.conftest import (  # noqa: F401  (order_path_env, pool, quotes: fixtures)
    REPO,
    OrderPathEnv,
    _stop,
    order_path_env,
    pool,
    quotes,
)

if TYPE_CHECKING:
    from playwright.async_api import Browser

CHROMIUM = "/usr/bin/chromium"


def _ensure_chromium() -> str:
    result = subprocess.run(["bash", str(REPO / "scripts" / "ensure_chromium.sh")], capture_output=True, text=True,
                            timeout=900, check=False)
    path = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if path is None:
        if os.geteuid() == 0:  # CI runs as root: a missing browser there is a failure, not a skip
            pytest.fail(f"chromium could not be installed: {result.stderr[-2000:]}")
        pytest.skip("chromium is not installed and this user cannot install it (scripts/ensure_chromium.sh)")
    return path


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return _ensure_chromium()


@pytest.fixture(scope="package")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async_api = pytest.importorskip("playwright.async_api")
    async with async_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path, headless=True,
                                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class ApiServer:
    base_url: str
    database_url: str

    async def token(self, role: str, *account_ids: str) -> str:
        """A fresh API token of ``role`` (its id is ``e2e-<n>``)."""
        token = new_api_token()
        conn = await asyncpg.connect(self.database_url)
        try:
            token_id = f"e2e-{await conn.fetchval('SELECT count(*) FROM api_tokens') + 1}"
            await conn.execute(
                "INSERT INTO api_tokens (token_id, token_hash, role, expires_at) VALUES ($1, $2, $3, $4)",
                token_id, hash_api_token(token), role, datetime.now(UTC) + timedelta(hours=1))
            for account_id in account_ids:
                await conn.execute("INSERT INTO api_token_accounts (token_id, account_id) VALUES ($1, $2)",
                                   token_id, account_id)
        finally:
            await conn.close()
        return token


@pytest.fixture(scope="package")
def api_server(order_path_env: OrderPathEnv) -> Iterator[ApiServer]:  # noqa: F811
    port = free_port()
    data = order_path_env.root / "api"
    data.mkdir(exist_ok=True)
    log = data / "api.log"
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "brokerage.cli", "api", "--port", str(port)], cwd=REPO,
                                   env=order_path_env.env(data), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, process, "api", timeout=60, log=log)
        yield ApiServer(f"http://127.0.0.1:{port}", order_path_env.database_url)
    finally:
        _stop(process)

