"""Positions of an account, valued at the Redis quote when there is one."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from gateway.api import queries
from gateway.api.deps import AppSettings, DbPool, RedisClient, VisibleAccountId
from gateway.api.listing import SymbolPath
from gateway.api.portfolio import position_model, valued_positions
from gateway.api.problems import Problem
from gateway.api.schemas import Position

router = APIRouter(prefix="/v1/accounts/{account_id}/positions", tags=["positions"])


@router.get("", response_model=list[Position], summary="Open positions, in symbol order")
async def list_positions(
    account_id: VisibleAccountId, pool: DbPool, redis: RedisClient, settings: AppSettings
) -> list[Position]:
    holdings = await queries.holdings(pool, [account_id])
    positions = await valued_positions(redis, holdings)
    now = datetime.now(UTC)
    return [position_model(account_id, p, settings.quote_stale_seconds, now) for p in positions[account_id]]


@router.get("/{symbol}", response_model=Position, summary="One open position")
async def get_position(
    account_id: VisibleAccountId, symbol: SymbolPath, pool: DbPool, redis: RedisClient, settings: AppSettings
) -> Position:
    symbol = symbol.upper()
    holding = await queries.holding(pool, account_id, symbol)
    if holding is None:
        raise Problem(404, "position-not-found", "Position not found",
                      f"Account {account_id!r} holds no {symbol}.", account_id=account_id, symbol=symbol)
    positions = await valued_positions(redis, {account_id: [holding]})
    return position_model(account_id, positions[account_id][0], settings.quote_stale_seconds, datetime.now(UTC))
