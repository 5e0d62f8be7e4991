"""Accounts and positions valued at live quotes: ledger rows (queries) + one MGET of quotes (Redis)
+ the pure valuation. Shared by the accounts and positions routes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
from redis.asyncio import Redis

from brokerage.settings import Settings
from gateway.api import queries, schemas
from gateway.api.valuation import Holding, PositionValue, value_account, value_positions
from ledger.buying_power import MarginPolicy
from marketdata.redis_quotes import QuoteReader


async def valued_positions(
    redis: Redis, holdings_by_account: dict[str, list[Holding]]
) -> dict[str, list[PositionValue]]:
    symbols = sorted({h.symbol for hs in holdings_by_account.values() for h in hs})
    quotes = await QuoteReader(redis).get_many(symbols)
    return {account_id: value_positions(hs, quotes) for account_id, hs in holdings_by_account.items()}


def margin_policy(settings: Settings) -> MarginPolicy:
    return MarginPolicy(settings.margin_initial_ratio, settings.margin_maintenance_ratio)


def account_model(row: asyncpg.Record, positions: Sequence[PositionValue], policy: MarginPolicy) -> schemas.Account:
    value = value_account(row["account_type"], row["cash"], row["blocked"], positions, policy)
    return schemas.Account(
        account_id=row["account_id"],
        type=row["account_type"],
        currency=row["currency"],
        status=row["status"],
        owner_name=row["owner_name"],
        cash=value.cash,
        blocked=value.blocked,
        available_cash=value.available_cash,
        buying_power=value.buying_power,
        equity=value.equity,
        long_market_value=value.long_market_value,
        short_market_value=value.short_market_value,
        unpriced_symbols=list(value.unpriced_symbols),
        short_selling_enabled=row["short_selling_enabled"],
        kill_switch=row["kill_switch"],
        margin_call_since=row["margin_call_since"],
        fix_sessions=list(row["fix_sessions"]),
        created_at=row["created_at"],
    )


async def valued_accounts(
    pool: asyncpg.Pool, redis: Redis, rows: Sequence[asyncpg.Record], settings: Settings
) -> list[schemas.Account]:
    holdings = await queries.holdings(pool, [r["account_id"] for r in rows])
    positions = await valued_positions(redis, holdings)
    policy = margin_policy(settings)
    return [account_model(r, positions[r["account_id"]], policy) for r in rows]


def position_model(account_id: str, p: PositionValue, stale_after_seconds: float, now: datetime) -> schemas.Position:
    stale = None
    if p.current_price is not None:
        stale = p.price_as_of is None or (now - p.price_as_of).total_seconds() > stale_after_seconds
    return schemas.Position(
        account_id=account_id, symbol=p.symbol, side="short" if p.side == "short" else "long", qty=p.qty,
        qty_available=p.qty_available, avg_entry_price=p.avg_entry_price, cost_basis=p.cost_basis,
        current_price=p.current_price, market_value=p.market_value, unrealized_pl=p.unrealized_pl,
        unrealized_plpc=p.unrealized_plpc, realized_pl=p.realized_pl, price_as_of=p.price_as_of, price_stale=stale,
    )
