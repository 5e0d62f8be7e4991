"""The REST API application: ``create_app(settings)`` builds it; the lifespan opens the PostgreSQL pool and
the Redis client and closes them on shutdown (nothing is connected at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import asyncpg
from fastapi import Depends, FastAPI
from redis.asyncio import Redis

from audit.http import build_compliance_router
from brokerage.settings import Settings
from gateway.api.console import routes as console
from gateway.api.deps import require_compliance, require_market_data_access
from gateway.api.metrics import ApiMetrics, MetricsMiddleware
from gateway.api.problems import ProblemDetails, install_problem_handlers, problem_responses
from gateway.api.routes import accounts, admin, cash, controls, health, orders, positions, search, stream
from gateway.api.routes.quotes import router as quotes_router  # market depth (ADR 023)
from gateway.api.stream_guard import StreamGuard

DESCRIPTION = """Broker back-office API: accounts with balances and buying power, positions valued at live
quotes, orders and fills, deposits and withdrawals.

* Authenticate with `Authorization: Bearer <token>` (tokens expire and can be revoked: `brokerage token`).
  An account token sees only its accounts (others answer 404, as if absent) and moves no cash; operator, compliance
  and admin tokens see every account; only operator and admin tokens deposit and withdraw; compliance reports
  need a compliance or admin token. `/v1/search` and `/v1/stream` need a token of any role (unless
  `BROKERAGE_API_PUBLIC_MARKET_DATA=true`).
* Trading controls (`/v1/admin/controls`: kill switches, market-wide halt) need an operator or admin token; each
  change is audited with the token as actor. The operator console is served at `/console` (not an API route).
* `/v1/admin/accounts` and `/v1/admin/sessions` (admin tokens; deposits and withdrawals also operator) open and
  close accounts and create, disable, enable, re-password and link FIX sessions; the gateway applies each change
  within seconds, without a restart, and every change is audited with the token as actor.
* Money, prices and quantities are decimal strings.
* Errors are RFC 9457 `application/problem+json`; branch on `type`
  (`https://brokerage.example/problems/<slug>`).
* Lists are paginated newest first with an opaque `cursor`; pass `next_cursor` back until it is null.
* Deposits and withdrawals need an `Idempotency-Key` header: a retry with the same key and body replays the first
  answer (201, `Idempotent-Replayed: true`) and moves money once; the same key with another body is 422.

Problem types (`https://brokerage.example/problems/…`):

| status | type | extension members |
|---|---|---|
| 400 | `idempotency-key-missing`, `idempotency-key-invalid` | |
| 401 | `unauthorized` | (header `WWW-Authenticate: Bearer`) |
| 403 | `forbidden` | |
| 404 | `account-not-found` (also for an account the token may not see) | `account_id` |
| 404 | `order-not-found`, `position-not-found`, `not-found` | `order_id`, `symbol` |
| 404 | `session-not-found`, `not-linked` (`/v1/admin`) | `sender_comp_id`, `account_id` |
| 409 | `account-not-active` | `account_status` |
| 409 | `already-exists`, `account-busy` (`/v1/admin`) | `key`, `reasons` |
| 413 | `payload-too-large` | `limit` |
| 422 | `validation-error` | `errors` (`loc`, `msg`, `type`) |
| 422 | `insufficient-funds` | `available`, `requested`, `currency` |
| 422 | `invalid-cursor` | |
| 422 | `idempotency-key-reused`, `invalid-time-range`, `invalid-request` | `idempotency_key`, `from`, `to` |
| 500 | `internal-error` | `error_id` (in the server log) |
| 503 | `not-ready` | `checks` (header `Retry-After`) |
| 503 | `database-unavailable`, `redis-unavailable`, `dependency-unavailable` | (header `Retry-After`) |
"""


# Every /v1 route may answer these; routes document their own additional problems.
V1_PROBLEMS = problem_responses({
    401: "Missing, unknown or revoked token (`unauthorized`; header `WWW-Authenticate: Bearer`)",
    422: "Invalid parameters or body (`validation-error`, with `errors`)",
    500: "Unexpected error (`internal-error`, with an `error_id` to quote)",
})


async def _close_search_index(app: FastAPI) -> None:
    service = getattr(app.state, "search_service", None)
    if service is not None:
        await service.index.close()


class BrokerageAPI(FastAPI):
    def openapi(self) -> dict[str, Any]:
        schema = super().openapi()  # cached by FastAPI after the first call
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault(
            "ProblemDetails", ProblemDetails.model_json_schema()
        )
        return schema


def create_app(settings: Settings) -> FastAPI:
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Closed in reverse order, each even if an earlier close fails: the WebSocket hub and the search
        # index (both opened on first use) before the Redis client they use, the pool last.
        async with AsyncExitStack() as resources:
            pool = await asyncpg.create_pool(
                settings.effective_database_url, min_size=1, max_size=settings.api_db_pool_size,
                command_timeout=settings.api_db_command_timeout_seconds,
            )
            resources.push_async_callback(pool.close)
            redis = Redis.from_url(settings.effective_redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
            resources.push_async_callback(redis.aclose)
            resources.push_async_callback(_close_search_index, app)
            resources.push_async_callback(stream.close_stream_hub, app)
            app.state.db_pool, app.state.redis = pool, redis
            yield

    app = BrokerageAPI(
        title="Brokerage REST API", version="1.0.0", description=DESCRIPTION, lifespan=lifespan,
        docs_url="/docs", redoc_url=None, openapi_url="/openapi.json",
    )
    app.state.settings, app.state.metrics = settings, metrics
    install_problem_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(health.router)
    for router in (accounts.router, positions.router, orders.router, cash.router,
                   build_compliance_router(require_compliance), controls.router, console.router, admin.router):
        app.include_router(router, responses=V1_PROBLEMS)
    app.include_router(search.router, responses=V1_PROBLEMS, dependencies=[Depends(require_market_data_access)])
    app.include_router(quotes_router, responses=V1_PROBLEMS, dependencies=[Depends(require_market_data_access)])
    app.state.stream_guard = StreamGuard(settings)  # Origin, token and per-token cap on /v1/stream
    app.include_router(stream.router)  # WebSocket /v1/stream: quote updates
    app.include_router(console.page_router)  # /console: the operator console's page (h13)
    return app
