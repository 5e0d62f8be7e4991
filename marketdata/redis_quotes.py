"""Redis adapter for quotes: the one quote-reader API used by risk, portfolio valuation and search,
and the pipelined writer used by the ingestor."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from redis.asyncio import Redis

from marketdata.quotes import Quote, quote_key


class QuoteReader:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def get(self, symbol: str) -> Quote | None:
        raw = await self._redis.hgetall(quote_key(symbol))  # type: ignore[misc]
        return Quote.from_mapping(symbol, raw) if raw else None

    async def get_many(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """All quotes in one round trip (pipelined HGETALLs, not one call per symbol)."""
        if not symbols:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for symbol in symbols:
                pipe.hgetall(quote_key(symbol))
            rows = await pipe.execute()
        return {s: Quote.from_mapping(s, raw) for s, raw in zip(symbols, rows, strict=True) if raw}


class QuoteWriter:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def write(self, quotes: Iterable[Quote]) -> int:
        """Write a batch of quotes in one pipeline; returns how many were written."""
        count = 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for quote in quotes:
                pipe.hset(quote_key(quote.symbol), mapping=quote.to_mapping())
                count += 1
            if count:
                await pipe.execute()
        return count
