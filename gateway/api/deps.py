"""Dependencies of the route handlers, as ``Annotated`` aliases (resources live on ``app.state``, opened
by the lifespan in ``gateway.api.app``)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from brokerage.settings import Settings
from gateway.api import queries
from gateway.api.auth import Principal as PrincipalModel
from gateway.api.auth import authenticate
from gateway.api.listing import AccountIdPath
from gateway.api.metrics import ApiMetrics
from gateway.api.problems import account_not_found, forbidden


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.db_pool  # type: ignore[no-any-return]


def _redis(request: Request) -> Redis:
    return request.app.state.redis  # type: ignore[no-any-return]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _metrics(request: Request) -> ApiMetrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


DbPool = Annotated[asyncpg.Pool, Depends(_pool)]
RedisClient = Annotated[Redis, Depends(_redis)]
AppSettings = Annotated[Settings, Depends(_settings)]
Metrics = Annotated[ApiMetrics, Depends(_metrics)]


_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer <token>`.")


async def _principal(
    pool: DbPool, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
) -> PrincipalModel:
    return await authenticate(pool, credentials.credentials if credentials else None)


Principal = Annotated[PrincipalModel, Depends(_principal)]


async def require_market_data_access(
    settings: AppSettings, pool: DbPool,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """/v1/search: a token of any role, unless the market data is public (``api_public_market_data``)."""
    if not settings.api_public_market_data:
        await authenticate(pool, credentials.credentials if credentials else None)


async def require_compliance(principal: Principal) -> None:
    """Compliance reports: compliance and admin tokens only."""
    if not principal.reads_compliance_reports:
        raise forbidden("Compliance reports need a compliance or admin token.")


async def _visible_account_id(account_id: AccountIdPath, principal: Principal, pool: DbPool) -> str:
    """The path's account, when it exists and this token may see it; 404 alike otherwise."""
    principal.require_account(account_id)
    if not await queries.account_exists(pool, account_id):
        raise account_not_found(account_id)
    return account_id


VisibleAccountId = Annotated[str, Depends(_visible_account_id)]
