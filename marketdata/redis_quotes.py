"""Redis adapter for quotes: the one quote-reader API used by risk, portfolio valuation and search,
and the pipelined writer used by the ingestor."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from redis.asyncio import Redis

from marketdata.quotes import KEY_PREFIX, Quote, channel_for, encode_batch, quote_key


class QuoteReader:
    def __init__(self, redis: Redis) -> None:  # type: ignore[type-arg,unused-ignore]
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
    def __init__(self, redis: Redis, publish: bool = False) -> None:  # type: ignore[type-arg,unused-ignore]
        self._redis = redis
        self._publish = publish

    async def write(self, quotes: Iterable[Quote]) -> int:
        """Write a batch of quotes in one round trip; returns how many were written. With
        ``publish`` each update also goes to its shard channel (see ``marketdata.quotes``)."""
        return await self.write_encoded([(q.symbol, q.to_json()) for q in quotes])

    async def write_encoded(self, batch: Sequence[tuple[str, str]]) -> int:
        """(symbol, quote JSON) pairs: one MSET (one command however large the batch: far cheaper
        than a SET each) plus, when publishing, one PUBLISH per shard, pipelined together. Arguments
        go as bytes: redis-py's per-argument encoding was a third of the ingest cost."""
        if not batch:
            return 0
        values: dict[str | bytes, str | bytes | int | float] = {
            (KEY_PREFIX + symbol).encode(): payload.encode() for symbol, payload in batch
        }
        if not self._publish:
            await self._redis.mset(values)
            return len(batch)
        shards: dict[str, list[tuple[str, str]]] = {}
        for symbol, payload in batch:
            shards.setdefault(channel_for(symbol), []).append((symbol, payload))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.mset(values)
            for channel, lines in shards.items():
                pipe.publish(channel, encode_batch(lines).encode())
            await pipe.execute()
        return len(batch)
