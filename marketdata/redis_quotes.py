"""Redis adapter for quotes: the one quote-reader API used by risk, portfolio valuation and search,
and the pipelined writer used by the ingestor."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from marketdata.book import QuoteBook
from marketdata.quotes import (
    KEY_PREFIX,
    QUOTE_JSON_BOOK,
    QUOTE_JSON_FULL,
    QUOTE_JSON_TRADED,
    SHARD_CHANNELS,
    Quote,
    channel_index,
    quote_key,
)


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


@dataclass(slots=True)
class PackedQuotes:
    """A batch of pending quotes in RESP, ready to send (``QuoteWriter.pack_pending``)."""

    symbols: list[str]  # the symbols written, in order (marked dirty again if the write fails)
    stamps: list[int]  # their exchange times (µs), unknown (0) left out: the latency record
    mset_args: bytes  # (key, JSON) pairs as RESP bulk strings: the MSET's arguments, without its header
    publishes: list[bytes]  # one PUBLISH command per shard channel with updates


class QuoteWriter:
    def __init__(self, redis: Redis, publish: bool = False) -> None:  # type: ignore[type-arg,unused-ignore]
        self._redis = redis
        self._publish = publish

    async def write(self, quotes: Iterable[Quote]) -> int:
        """Write a batch of quotes in one round trip; returns how many were written. With
        ``publish`` each update also goes to its shard channel (see ``marketdata.quotes``)."""
        return await self.write_encoded([(q.symbol, q.to_json()) for q in quotes])

    async def write_encoded(self, batch: Sequence[tuple[str, str]]) -> int:
        """(symbol, quote JSON) pairs: one MSET (one command however large the batch: a SET each was
        3.5x slower) plus, when publishing, one PUBLISH per shard, sent together in one round trip."""
        if not batch:
            return 0
        mset, publishes = self.pack(batch)
        commands = [resp([b"MSET", *mset]), *publishes]
        await self.send(b"".join(commands), len(commands))
        return len(batch)

    def pack(self, batch: Sequence[tuple[str, str]]) -> tuple[list[bytes], list[bytes]]:
        """The MSET arguments (key, JSON, ...) and the PUBLISH commands (RESP) of a batch, for
        ``write_encoded`` or for the ingestor to send with the batch's books in the same MSET.

        Keys and shards are derived per quote rather than looked up in a per-symbol cache: at 100k
        symbols the cache's entries were cold in memory and cost more than the concatenation and CRC
        (RESP packing 2.0 → 1.1 µs per quote, measured)."""
        key_prefix = KEY_PREFIX.encode()
        mset: list[bytes] = []
        shards: list[list[bytes]] = [[] for _ in _CHANNELS]
        publish = self._publish
        for symbol, payload in batch:
            name = symbol.encode()
            body = payload.encode()
            mset += (key_prefix + name, body)
            if publish:
                shards[channel_index(name)].append(name + b"\t" + body)
        return mset, [resp([b"PUBLISH", channel, b"\n".join(lines)])
                      for channel, lines in zip(_CHANNELS, shards, strict=True) if lines]

    def pack_pending(self, book: QuoteBook, ingest_ts_us: int, limit: int) -> PackedQuotes:
        """Take up to ``limit`` pending symbols from ``book`` and pack their quotes, the ingestor's hot path.

        What ``drain_encoded`` + ``pack`` + ``resp`` do, in one pass that builds text, not bytes: each
        quote's JSON and its RESP framing come from one %-format (``QUOTE_JSON_*``: the shapes nearly
        all quotes have; ``quote_json`` for the others), the shard channel is kept on the symbol's state,
        and the batch is encoded once. RESP counts bytes and we count characters: equal for ASCII, which
        one check of the whole text proves (prices and times always are; a non-ASCII symbol takes the
        per-item path). Measured: ADR 038, ``docs/perf/quotes.md``."""
        symbols = book.take(limit)
        states = book.states
        ingest = str(ingest_ts_us)
        pair = _MSET_PAIR
        book_only, traded, full = QUOTE_JSON_BOOK, QUOTE_JSON_TRADED, QUOTE_JSON_FULL
        pieces: list[str] = []
        shards: list[list[str]] = [[] for _ in _CHANNELS]
        stamps: list[int] = []
        publish = self._publish
        for symbol in symbols:
            state = states[symbol]
            bids, asks, last, last_size = state.bids, state.asks, state.last, state.last_size
            volume, prev_close, ts = state.volume, state.prev_close, state.exchange_ts_us
            text = None
            if bids and asks:
                bid, ask = max(bids), min(asks)
                if last is not None and last_size is not None:
                    if volume is None and prev_close is None:
                        text = traded % (symbol, bid, ask, bids[bid], asks[ask], last, last_size, ts, ingest)
                    elif volume is not None and prev_close is not None:
                        text = full % (symbol, bid, ask, bids[bid], asks[ask], last, last_size, volume, prev_close,
                                       ts, ingest)
                elif last is None and last_size is None and volume is None and prev_close is None:
                    text = book_only % (symbol, bid, ask, bids[bid], asks[ask], ts, ingest)
            if text is None:
                text = state.quote_json(symbol, ingest_ts_us)
            pieces.append(pair % (len(symbol) + _KEY_PREFIX_LEN, symbol, len(text), text))
            if publish:
                channel = state.channel
                if channel < 0:
                    channel = state.channel = channel_index(symbol.encode())
                shards[channel].append(symbol + "\t" + text)
            if ts:
                stamps.append(ts)
        mset_text = "".join(pieces)
        if not mset_text.isascii():  # a symbol outside ASCII: lengths in bytes, item by item
            mset, publishes = self.pack([(s, states[s].quote_json(s, ingest_ts_us)) for s in symbols])
            return PackedQuotes(symbols, stamps, b"".join([b"$%d\r\n%s\r\n" % (len(a), a) for a in mset]),
                                publishes)
        publish_texts = []
        for channel_name, lines in zip(SHARD_CHANNELS, shards, strict=True):
            if lines:
                body = "\n".join(lines)
                publish_texts.append(_PUBLISH % (len(channel_name), channel_name, len(body), body))
        return PackedQuotes(symbols, stamps, mset_text.encode(), [t.encode() for t in publish_texts])

    async def send(self, packed: bytes, replies: int) -> None:
        await send_packed(self._redis, packed, replies)


async def send_packed(redis: Redis, packed: bytes, replies: int) -> None:  # type: ignore[type-arg,unused-ignore]
    """Send pre-packed RESP commands on one pooled connection and read their replies (raising the first
    error reply). Packed by us rather than by redis-py: its per-argument encoding cost more client CPU
    than the rest of the write (1.3 vs 0.55 µs per quote, measured). A connection left with unread
    replies is dropped, never reused."""
    pool = redis.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        await connection.send_packed_command(packed)
        for _ in range(replies):
            await connection.read_response()  # raises the server's error reply, if any
    except BaseException:
        await connection.disconnect()  # unread replies would poison the next user
        raise
    finally:
        await pool.release(connection)


_CHANNELS = tuple(channel.encode() for channel in SHARD_CHANNELS)
_KEY_PREFIX_LEN = len(KEY_PREFIX)
_MSET_PAIR = "$%d\r\n" + KEY_PREFIX + "%s\r\n$%d\r\n%s\r\n"  # one (key, JSON) pair of an MSET
_PUBLISH = "*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"


def resp(args: list[bytes]) -> bytes:
    """One command in the Redis protocol (RESP2 array of bulk strings)."""
    return b"*%d\r\n" % len(args) + b"".join([b"$%d\r\n%s\r\n" % (len(a), a) for a in args])
