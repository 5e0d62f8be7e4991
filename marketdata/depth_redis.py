"""Redis adapter for market depth: the ingestor's book writer and the readers' book reader.

The ingestor packs the books of a batch (``BookWriter.pack``) into the MSET of its quotes, plus one
PUBLISH per ``books:shard:N`` channel, in one round trip. Books are written only for symbols someone
reads books of (``marketdata.depth_demand``, ADR 033), and only with their quote, so conflation is the
quotes' (ADR 004, ADR 023).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence

import structlog
from redis.asyncio import Redis

from marketdata.book import SymbolState
from marketdata.depth import BOOK_KEY_PREFIX, MAX_LEVELS, DepthBook, book_channel_for, book_key, encode
from marketdata.depth_demand import LEASE_SECONDS, LIVE_KEY, WANT_CHANNEL, WANTED_KEY
from marketdata.quotes import KEY_PREFIX, Quote
from marketdata.redis_quotes import resp, send_packed

log = structlog.get_logger(__name__)


def state_json(symbol: str, state: SymbolState, ingest_ts_us: int, depth: int = MAX_LEVELS) -> str:
    """The book record of one symbol as the ingestor holds it (``QuoteBook.states``)."""
    return encode(symbol, sorted(state.bids.items(), reverse=True)[:depth], sorted(state.asks.items())[:depth],
                  (state.last, state.last_size, state.volume, state.prev_close), state.exchange_ts_us,
                  ingest_ts_us)


class BookWriter:
    def __init__(self, redis: Redis, publish: bool = True, depth: int = MAX_LEVELS) -> None:  # type: ignore[type-arg,unused-ignore]
        self._redis = redis
        self._publish = publish
        self.depth = depth
        self._targets: dict[str, tuple[bytes, bytes, bytes]] = {}  # symbol → key, channel, line prefix
        self.books_written = 0

    @property
    def redis(self) -> Redis:  # type: ignore[type-arg,unused-ignore]
        return self._redis

    def pack(self, states: Mapping[str, SymbolState], symbols: Iterable[str],
             ingest_ts_us: int) -> tuple[list[bytes], list[bytes]]:
        """The books' MSET arguments (key, record, ...) and their PUBLISH commands (RESP), for the caller
        to send with the quotes of the same batch (one MSET: a quote and its book change together)."""
        mset: list[bytes] = []
        shards: dict[bytes, list[bytes]] = {}
        targets = self._targets
        publish = self._publish
        depth = self.depth
        for symbol in symbols:
            state = states.get(symbol)
            if state is None:
                continue
            target = targets.get(symbol)
            if target is None:
                target = targets[symbol] = (book_key(symbol).encode(), book_channel_for(symbol).encode(),
                                            symbol.encode() + b"\t")
            body = state_json(symbol, state, ingest_ts_us, depth).encode()
            mset += (target[0], body)
            if publish:
                shards.setdefault(target[1], []).append(target[2] + body)
        self.books_written += len(mset) // 2
        return mset, [resp([b"PUBLISH", channel, b"\n".join(lines)]) for channel, lines in shards.items()]

    async def write(self, states: Mapping[str, SymbolState], symbols: Iterable[str], ingest_ts_us: int) -> int:
        """Write (and publish) these symbols' books now, whoever wants them; returns how many."""
        mset, publishes = self.pack(states, symbols, ingest_ts_us)
        if not mset:
            return 0
        commands = [resp([b"MSET", *mset]), *publishes]
        await self._send(b"".join(commands), len(commands))
        return len(mset) // 2

    async def _send(self, packed: bytes, replies: int) -> None:
        await send_packed(self._redis, packed, replies)


class BookReader:
    """Books for the REST API, the WebSocket hub and the FIX gateway.

    Books are written on demand (ADR 033): every read asks for its symbols' books (a lease and a message
    to the ingestor, in the read's round trip). A book that is absent, or older than its quote (its
    lease lapsed, the quote moved on), is waited for (the ingestor writes the full book at its next
    write, ~milliseconds) when an ingestor writes books (``books:live``) and the symbol has a quote; a
    symbol with a quote but still no book (an ingestor running without depth) reads as a one-level book
    made from its quote."""

    def __init__(self, redis: Redis, wait_seconds: float = 2.0) -> None:  # type: ignore[type-arg,unused-ignore]
        self._redis = redis
        self.wait_seconds = wait_seconds

    async def get_many(self, symbols: Sequence[str]) -> dict[str, DepthBook]:
        if not symbols:
            return {}
        symbols = list(dict.fromkeys(symbols))
        until_ms = int((time.time() + LEASE_SECONDS) * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(WANTED_KEY, dict.fromkeys(symbols, until_ms))
            pipe.publish(WANT_CHANNEL, "\n".join(symbols))
            pipe.exists(LIVE_KEY)
            pipe.mget([BOOK_KEY_PREFIX + s for s in symbols] + [KEY_PREFIX + s for s in symbols])
            _, _, live, rows = await pipe.execute()
        books, quotes = _current(symbols, rows)
        waiting = [s for s in symbols if s not in books and s in quotes] if live else []
        deadline = time.monotonic() + self.wait_seconds
        pause = 0.002
        while waiting and time.monotonic() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)
            rows = await self._redis.mget([BOOK_KEY_PREFIX + s for s in waiting] + [KEY_PREFIX + s for s in waiting])
            found, moved = _current(waiting, rows)
            books.update(found)
            quotes.update(moved)
            waiting = [s for s in waiting if s not in found]
        if waiting:
            log.warning("marketdata.book_not_written", symbols=waiting[:20], waited_s=self.wait_seconds)
        books.update({s: DepthBook.from_quote(q) for s, q in quotes.items() if s not in books})
        return books

    async def get(self, symbol: str) -> DepthBook | None:
        return (await self.get_many([symbol])).get(symbol)


def _current(symbols: Sequence[str],
             rows: Sequence[str | bytes | None]) -> tuple[dict[str, DepthBook], dict[str, Quote]]:
    """Books and quotes from one MGET of the books' then the quotes' keys; a book older than its quote
    is left out (not written since the quote moved: its lease had lapsed)."""
    n = len(symbols)
    quotes = {s: Quote.from_json(raw) for s, raw in zip(symbols, rows[n:], strict=True) if raw}
    books = {}
    for symbol, raw in zip(symbols, rows[:n], strict=True):
        if raw:
            book = DepthBook.from_json(raw)
            quote = quotes.get(symbol)
            if quote is None or book.ingest_ts_us >= quote.ingest_ts_us:
                books[symbol] = book
    return books, quotes
