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
        raw = await self._redis.get(quote_key(symbol))
        return Quote.from_json(raw) if raw else None

    async def get_many(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """All quotes in one round trip (a single MGET); symbols without a quote are absent."""
        if not symbols:
            return {}
        rows = await self._redis.mget([quote_key(s) for s in symbols])
        return {s: Quote.from_json(raw) for s, raw in zip(symbols, rows, strict=True) if raw}


class QuoteWriter:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def write(self, quotes: Iterable[Quote]) -> int:
        """Write a batch of quotes in one pipeline; returns how many were written."""
        count = 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for quote in quotes:
                pipe.set(quote_key(quote.symbol), quote.to_json())
                count += 1
            if count:
                await pipe.execute()
        return count
