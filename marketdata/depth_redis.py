"""Redis adapter for market depth: the ingestor's book writer and the readers' book reader.

The writer runs right after the quote write of the same batch (``Ingestor.books``): one MSET of
``book:SYMBOL`` plus one PUBLISH per ``books:shard:N`` channel, packed into one round trip. Books are
only written for the symbols whose quote was, so conflation is the quotes' (ADR 004, ADR 023).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from redis.asyncio import Redis

from marketdata.book import SymbolState
from marketdata.depth import BOOK_KEY_PREFIX, MAX_LEVELS, DepthBook, book_channel_for, book_key, encode
from marketdata.redis_quotes import QuoteReader


def state_json(symbol: str, state: SymbolState, ingest_ts_us: int, depth: int = MAX_LEVELS) -> str:
    """The book record of one symbol as the ingestor holds it (``QuoteBook.states``)."""
    return encode(symbol, sorted(state.bids.items(), reverse=True)[:depth], sorted(state.asks.items())[:depth],
                  (state.last, state.last_size, state.volume, state.prev_close), state.exchange_ts_us,
                  ingest_ts_us)


def _resp(args: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join([b"$%d\r\n%s\r\n" % (len(a), a) for a in args])


class BookWriter:
    def __init__(self, redis: Redis, publish: bool = True, depth: int = MAX_LEVELS) -> None:  # type: ignore[type-arg,unused-ignore]
        self._redis = redis
        self._publish = publish
        self.depth = depth
        self._targets: dict[str, tuple[bytes, bytes, bytes]] = {}  # symbol → key, channel, line prefix
        self.books_written = 0

    async def write(self, states: Mapping[str, SymbolState], symbols: Iterable[str], ingest_ts_us: int) -> int:
        mset: list[bytes] = [b"MSET"]
        shards: dict[bytes, list[bytes]] = {}
        targets = self._targets
        for symbol in symbols:
            state = states.get(symbol)
            if state is None:
                continue
            target = targets.get(symbol)
            if target is None:
                target = targets[symbol] = (book_key(symbol).encode(), book_channel_for(symbol).encode(),
                                            symbol.encode() + b"\t")
            body = state_json(symbol, state, ingest_ts_us, self.depth).encode()
            mset += (target[0], body)
            if self._publish:
                shards.setdefault(target[1], []).append(target[2] + body)
        written = (len(mset) - 1) // 2
        if not written:
            return 0
        commands = [_resp(mset)]
        commands += [_resp([b"PUBLISH", channel, b"\n".join(lines)]) for channel, lines in shards.items()]
        await self._send(b"".join(commands), len(commands))
        self.books_written += written
        return written

    async def _send(self, packed: bytes, replies: int) -> None:
        pool = self._redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_packed_command(packed)
            for _ in range(replies):
                await connection.read_response()
        except BaseException:
            await connection.disconnect()  # unread replies would poison the next user
            raise
        finally:
            await pool.release(connection)


class BookReader:
    """Books for the REST API, the WebSocket hub and the FIX gateway. A symbol with a quote but no book
    (an ingestor running without depth) reads as a one-level book made from its quote."""

    def __init__(self, redis: Redis) -> None:  # type: ignore[type-arg,unused-ignore]
        self._redis = redis

    async def get_many(self, symbols: Sequence[str]) -> dict[str, DepthBook]:
        if not symbols:
            return {}
        rows = await self._redis.mget([BOOK_KEY_PREFIX + s for s in symbols])
        books = {s: DepthBook.from_json(raw) for s, raw in zip(symbols, rows, strict=True) if raw}
        missing = [s for s in symbols if s not in books]
        if missing:
            quotes = await QuoteReader(self._redis).get_many(missing)
            books.update({s: DepthBook.from_quote(q) for s, q in quotes.items()})
        return books

    async def get(self, symbol: str) -> DepthBook | None:
        return (await self.get_many([symbol])).get(symbol)

