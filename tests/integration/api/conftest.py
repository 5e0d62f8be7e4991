"""REST API against the real PostgreSQL and Redis of the session: the app's lifespan runs (it opens its own
pool and Redis client from settings), requests go through httpx's ASGI transport."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from brokerage.services import free_port
from brokerage.settings import Settings
from gateway.api.app import create_app
from ledger.credentials import hash_api_token, new_api_token

if TYPE_CHECKING:
    from tests.conftest import TestServers

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


@dataclass
class Seed:
    """Inserts ledger rows directly (the read side is what is under test here)."""

    pool: asyncpg.Pool
    _ids: itertools.count[int]

    @staticmethod
    def at(minute: int) -> datetime:
        """A fixed instant plus ``minute`` minutes (UTC)."""
        return T0 + timedelta(minutes=minute)

    async def account(self, account_id: str, account_type: str = "cash", cash: str = "0", blocked: str = "0",
                      owner: str = "Test Owner") -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO accounts (account_id, account_type, owner_name) VALUES ($1, $2, $3)",
                account_id, account_type, owner,
            )
            await conn.execute(
                "INSERT INTO cash_balances (account_id, currency, account_type, amount, blocked) "
                "VALUES ($1, 'USD', $2, $3, $4)",
                account_id, account_type, Decimal(cash), Decimal(blocked),
            )
        return account_id

    async def token(self, role: str, *account_ids: str, revoked: bool = False, expired: bool = False) -> str:
        token = new_api_token()
        token_id = f"tok{next(self._ids)}"
        expires_at = datetime.now(UTC) + (timedelta(seconds=-1) if expired else timedelta(days=1))
        await self.pool.execute(
            "INSERT INTO api_tokens (token_id, token_hash, role, revoked_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            token_id, hash_api_token(token), role, datetime.now(UTC) if revoked else None, expires_at,
        )
        for account_id in account_ids:
            await self.pool.execute("INSERT INTO api_token_accounts (token_id, account_id) VALUES ($1, $2)",
                                    token_id, account_id)
        return token

    async def fix_session(self, sender_comp_id: str, *account_ids: str) -> None:
        await self.pool.execute(
            "INSERT INTO fix_sessions (sender_comp_id, target_comp_id, password_hash) VALUES ($1, 'BROKER', 'x')",
            sender_comp_id,
        )
        for account_id in account_ids:
            await self.pool.execute(
                "INSERT INTO fix_session_accounts (sender_comp_id, account_id) VALUES ($1, $2)",
                sender_comp_id, account_id,
            )

    async def holding(self, account_id: str, symbol: str, qty: str, avg_cost: str, blocked_qty: str = "0",
                      account_type: str = "cash") -> None:
        await self.pool.execute(
            "INSERT INTO holdings (account_id, symbol, account_type, qty, blocked_qty, avg_cost, cost_basis) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            account_id, symbol, account_type, Decimal(qty), Decimal(blocked_qty), Decimal(avg_cost),
            abs(Decimal(qty)) * Decimal(avg_cost),
        )

    async def order(self, account_id: str, symbol: str, status: str, created_at: datetime, qty: str = "100",
                    side: str = "buy", price: str | None = "10", current_cl_ord_id: str | None = None) -> str:
        n = next(self._ids)
        order_id = f"O{n:06d}"
        await self.pool.execute(
            """
            INSERT INTO orders (order_id, account_id, session_id, cl_ord_id, symbol, side, ord_type, time_in_force,
                                qty, price, status, leaves_qty, created_at, updated_at, current_cl_ord_id)
            VALUES ($1, $2, 'CLIENT1', $3, $4, $5, $6, 'day', $7, $8, $9, $7, $10, $10, $11)
            """,
            order_id, account_id, f"C{n}", symbol, side, "limit" if price else "market", Decimal(qty),
            Decimal(price) if price else None, status, created_at, current_cl_ord_id,
        )
        return order_id

    async def fill(self, order_id: str, last_qty: str, last_px: str, created_at: datetime) -> str:
        n = next(self._ids)
        exec_id = f"E{n:06d}"
        order = await self.pool.fetchrow("SELECT * FROM orders WHERE order_id = $1", order_id)
        assert order is not None
        await self.pool.execute(
            """
            INSERT INTO executions (exec_id, venue_exec_id, order_id, account_id, exec_type, ord_status, symbol, side,
                                    last_qty, last_px, cum_qty, leaves_qty, avg_px, transact_time, created_at)
            VALUES ($1, $2, $3, $4, 'trade', 'partially_filled', $5, $6, $7, $8, $7, $9, $8, $10, $10)
            """,
            exec_id, f"X{n}", order_id, order["account_id"], order["symbol"], order["side"], Decimal(last_qty),
            Decimal(last_px), order["qty"] - Decimal(last_qty), created_at,
        )
        return exec_id


@pytest.fixture
async def seed(db_pool: asyncpg.Pool) -> Seed:
    return Seed(db_pool, itertools.count(1))


@pytest.fixture
def api_settings(migrated_db_url: str, test_servers: TestServers, tmp_path: Path) -> Settings:
    return Settings(database_url=migrated_db_url, redis_url=test_servers.redis_url, data_dir=tmp_path)


@pytest.fixture
def api_app(api_settings: Settings) -> FastAPI:
    return create_app(api_settings)


@pytest.fixture
async def client(api_app: FastAPI, redis_client: Any) -> AsyncIterator[httpx.AsyncClient]:
    # redis_client (flushed per test) is requested so quotes from another test never leak in
    async with api_app.router.lifespan_context(api_app):
        transport = httpx.ASGITransport(app=api_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
            yield http


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn (real HTTP and WebSocket, lifespan on) in a thread of its own; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", loop="asyncio",
                                           ws="websockets-sansio", lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, name="api-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def live_api(api_app: FastAPI) -> Iterator[str]:
    with serving(api_app) as base_url:
        yield base_url
