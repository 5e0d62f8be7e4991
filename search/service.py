"""Ticker search as the REST API serves it: validate, look up (Redis cache, then the index), hydrate
with live quotes in one MGET.

The cache holds the ranked listings of a query (never the quotes, which must be live) for a short
TTL, so a hot query costs one GET plus one MGET. On a miss the MGET and the cache SET travel in the
same pipeline: still one round trip after the index lookup.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis

from marketdata.quotes import Quote, quote_key
from search.index import TickerIndex
from search.query import InvalidQuery, parse_query
from search.ranking import Listing

CACHE_PREFIX = "search:cache:v1:"
MAX_LIMIT = 50


@dataclass(frozen=True, slots=True)
class SearchHit:
    listing: Listing
    quote: Quote | None


def cache_key(canonical_query: str, limit: int) -> str:
    return f"{CACHE_PREFIX}{limit}:{canonical_query}"


def parse_limit(raw: str | None, default: int = 10) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit():
        raise InvalidQuery("bad_limit", f"limit must be an integer between 1 and {MAX_LIMIT}")
    value = int(raw)
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidQuery("bad_limit", f"limit must be an integer between 1 and {MAX_LIMIT}")
    return value


class SearchService:
    def __init__(self, index: TickerIndex, redis: Redis, cache_ttl_seconds: float) -> None:  # type: ignore[type-arg,unused-ignore]
        self._index = index
        self._redis = redis
        self._ttl_ms = max(1, int(cache_ttl_seconds * 1000))

    @property
    def index(self) -> TickerIndex:
        return self._index

    async def search(self, raw_query: str | None, limit: int) -> list[SearchHit]:
        """Raises InvalidQuery for empty/too long/garbage input, IndexUnavailable if the index is down."""
        query = parse_query(raw_query)
        key = cache_key(query.text, limit)
        cached = await self._redis.get(key)
        if cached is not None:
            listings = [Listing.from_mapping(m) for m in json.loads(cached)]
            rows = await self._redis.mget([quote_key(lst.symbol) for lst in listings]) if listings else []
        else:
            listings = await self._index.search(query, limit)
            payload = json.dumps([lst.to_mapping() for lst in listings], separators=(",", ":"))
            async with self._redis.pipeline(transaction=False) as pipe:
                if listings:
                    pipe.mget([quote_key(lst.symbol) for lst in listings])
                pipe.set(key, payload, px=self._ttl_ms)
                replies = await pipe.execute()
            rows = replies[0] if listings else []
        return [
            SearchHit(listing, Quote.from_json(raw) if raw else None)
            for listing, raw in zip(listings, rows, strict=True)
        ]

    async def clear_cache(self) -> int:
        """Forget every cached result (after a reindex); returns how many entries were dropped."""
        dropped = 0
        async for batch in _scan_batches(self._redis, CACHE_PREFIX + "*"):
            dropped += await self._redis.unlink(*batch)
        return dropped


async def _scan_batches(
    redis: Redis, pattern: str, size: int = 500  # type: ignore[type-arg,unused-ignore]
) -> AsyncIterator[list[bytes]]:
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=pattern, count=size):
        batch.append(key)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
