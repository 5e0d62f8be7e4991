"""GET /v1/quotes/{symbol}/book: a symbol's market depth (its best price levels a side) from Redis.

The book is the ingestor's ``book:SYMBOL`` record (ADR 023): up to 10 levels a side plus the last trade,
volume and previous close. Same access as /v1/search (``require_market_data_access``, set where the
router is included). A listed symbol with no market data yet answers 200 with empty sides.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from redis.asyncio import Redis

from brokerage.settings import Settings, get_settings
from gateway.api.problems import Problem, problem_responses
from marketdata.depth import MAX_LEVELS, DepthBook, Level, served_depth
from marketdata.depth_redis import BookReader
from marketdata.quotes import now_us
from refdata.instruments import universe_by_symbol
from refdata.symbology import canonical_symbol

router = APIRouter(tags=["market data"])


class LevelOut(BaseModel):
    price: Decimal
    size: Decimal


class BookOut(BaseModel):
    symbol: str
    depth: int = Field(description=f"Levels a side asked for (at most {MAX_LEVELS}; fewer when the book is thinner).")
    bids: list[LevelOut] = Field(description="Best (highest) bid first.")
    asks: list[LevelOut] = Field(description="Best (lowest) offer first.")
    last: Decimal | None
    last_size: Decimal | None
    volume: Decimal | None
    prev_close: Decimal | None
    exchange_ts_us: int | None = Field(description="Exchange timestamp, microseconds since the epoch (UTC).")
    ingest_ts_us: int | None = Field(description="When the ingestor wrote it, microseconds since the epoch (UTC).")
    age_seconds: float | None
    stale: bool = Field(description="No book yet, or older than BROKERAGE_QUOTE_STALE_SECONDS.")


@cache
def _listed() -> frozenset[str]:
    return frozenset(universe_by_symbol())


def parse_depth(text: str | None) -> int:
    """``depth`` as FIX MarketDepth (264): absent or 0 the full book, N the best N levels (1..10)."""
    if text is None:
        return MAX_LEVELS
    value = text.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 3) or int(value) > MAX_LEVELS:
        raise Problem(422, "invalid-depth", "Invalid depth",
                      f"depth must be an integer from 0 to {MAX_LEVELS} (0 = the full book), not {text[:20]!r}.",
                      depth=text[:20])
    return served_depth(int(value))


def _levels(levels: tuple[Level, ...]) -> list[LevelOut]:
    return [LevelOut(price=p, size=s) for p, s in levels]


def book_out(symbol: str, depth: int, book: DepthBook | None, stale_after: float, at_us: int) -> BookOut:
    if book is None:
        return BookOut(symbol=symbol, depth=depth, bids=[], asks=[], last=None, last_size=None, volume=None,
                       prev_close=None, exchange_ts_us=None, ingest_ts_us=None, age_seconds=None, stale=True)
    top = book.top(depth)
    return BookOut(symbol=symbol, depth=depth, bids=_levels(top.bids), asks=_levels(top.asks), last=top.last,
                   last_size=top.last_size, volume=top.volume, prev_close=top.prev_close,
                   exchange_ts_us=top.exchange_ts_us, ingest_ts_us=top.ingest_ts_us,
                   age_seconds=round(top.age_seconds(at_us), 6), stale=top.is_stale(stale_after, at_us))


@router.get(
    "/v1/quotes/{symbol}/book",
    response_model=BookOut,
    summary="Market depth of a symbol: its best price levels a side, with the last trade",
    responses=problem_responses({
        404: "Not a listed symbol (`symbol-not-found`, with `symbol`)",
        422: f"depth not an integer from 0 to {MAX_LEVELS} (`invalid-depth`, with `depth`)",
    }),
)
async def book(
    request: Request,
    symbol: Annotated[str, Path(description="Ticker; class shares as BRK-B or BRK.B.")],
    depth: Annotated[str | None, Query(description=f"Levels a side: 1–{MAX_LEVELS}, 0 or absent = full book")] = None,
) -> BookOut:
    # depth is validated here (not by FastAPI) so every bad value is the same documented 422 problem
    levels = parse_depth(depth)
    canonical = canonical_symbol(symbol)
    if canonical not in _listed():
        raise Problem(404, "symbol-not-found", "Symbol not found", f"{symbol[:20]!r} is not a listed symbol.",
                      symbol=symbol[:20])
    state = request.app.state
    settings: Settings = getattr(state, "settings", None) or get_settings()
    redis = getattr(state, "redis", None)
    if redis is None:  # a bare router mounted without the app's lifespan
        redis = state.redis = Redis.from_url(settings.effective_redis_url)
    found = await BookReader(redis).get(canonical)
    return book_out(canonical, levels, found, settings.quote_stale_seconds, now_us())
