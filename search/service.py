"""Ticker search as the REST API serves it: validate, look up (Redis cache, then the index), hydrate
with live quotes in one MGET.

The cache holds the ranked listings of a query (never the quotes, which must be live) for a short
TTL: in Redis (shared by every API process) and, for the hottest queries, in a small process-local
front with the same TTL. A hot query costs one MGET and never touches the index; one cached in Redis
only, a GET plus the MGET; on a miss the cache SET and the MGET go out in one pipeline after the
index lookup. Quotes are read as stored (marketdata's keys, one MGET, like ``QuoteReader.get_many``) and
decoded only by whoever needs them: the REST route relays their fields without building a ``Quote``
(ADR 044); ``SearchHit.quote`` decodes one with marketdata's ``Quote.from_json``.
"""

from __future__ import annotations

import collections
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
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
    quote_json: bytes | str | None  # the quote as stored in Redis (marketdata's JSON); None: no quote yet

    @property
    def quote(self) -> Quote | None:
        return None if self.quote_json is None else Quote.from_json(self.quote_json)


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


class RecentResults:
    """Process-local front of the Redis cache for the hottest queries (bounded, same short TTL), so
    a hot query costs one round trip (the quotes' MGET) instead of two."""

    def __init__(self, ttl_seconds: float, max_entries: int = 4096) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: collections.OrderedDict[str, tuple[float, list[Listing]]] = collections.OrderedDict()

    def get(self, key: str, now: float) -> list[Listing] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= now:
            return None
        return entry[1]

    def put(self, key: str, listings: list[Listing], now: float) -> None:
        self._entries[key] = (now + self._ttl, listings)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class SearchService:
    def __init__(self, index: TickerIndex, redis: Redis, cache_ttl_seconds: float) -> None:  # type: ignore[type-arg,unused-ignore]
        self._index = index
        self._redis = redis
        self._ttl_ms = max(1, int(cache_ttl_seconds * 1000))
        self.recent = RecentResults(cache_ttl_seconds)

    @property
    def index(self) -> TickerIndex:
        return self._index

    async def search(self, raw_query: str | None, limit: int) -> list[SearchHit]:
        """Raises InvalidQuery for empty/too long/garbage input, IndexUnavailable if the index is down."""
        query = parse_query(raw_query)
        key = cache_key(query.text, limit)
        now = time.monotonic()
        listings = self.recent.get(key, now)
        if listings is None:
            cached = await self._redis.get(key)
            if cached is not None:
                listings = [Listing.from_mapping(m) for m in orjson.loads(cached)]
                self.recent.put(key, listings, now)
        if listings is not None:
            quotes = await self._quote_rows(listings)
        else:
            listings = await self._index.search(query, limit)
            self.recent.put(key, listings, now)
            payload = orjson.dumps([lst.to_mapping() for lst in listings])
            async with self._redis.pipeline(transaction=False) as pipe:  # one round trip, one connection
                pipe.set(key, payload, px=self._ttl_ms)
                if listings:
                    pipe.mget([quote_key(lst.symbol) for lst in listings])
                replies = await pipe.execute()
            quotes = replies[1] if listings else []
        return [SearchHit(listing, raw or None) for listing, raw in zip(listings, quotes, strict=True)]

    async def _quote_rows(self, listings: list[Listing]) -> list[bytes | str | None]:
        """The listings' quotes as stored, in one MGET (``QuoteReader.get_many``'s read, not decoded)."""
        if not listings:
            return []
        return list(await self._redis.mget([quote_key(lst.symbol) for lst in listings]))

    async def clear_cache(self) -> int:
        """Forget every cached result (after a reindex); returns how many Redis entries were dropped."""
        self.recent.clear()
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
