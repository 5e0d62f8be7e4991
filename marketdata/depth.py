"""Market depth: a symbol's best price levels per side, its Redis wire form, and level changes (pure).

The ingestor keeps up to ``MAX_LEVELS`` levels a side (what the exchange publishes) and writes them,
with the trade fields of the quote, as one JSON string per symbol at ``book:SYMBOL`` next to
``quote:SYMBOL``, and publishes changed books in batches on ``books:shard:N`` (the quote channels'
sharding and line format). A book record is a superset of the quote, so a depth reader needs no quote.

Level changes (35=X MDEntries, the exchange's feed and the gateway's) are keyed by price *and* carry
MDEntryPositionNo (290), ordered so that either way of applying them rebuilds the next book:

* by price (``apply_by_price``): Delete removes the price, New/Change set its size; sort;
* by position (``apply_by_position``): Deletes come first, deepest first, each at its position in the
  book as it stands (so no delete shifts another); then New inserts and Change overwrites at their
  position in the new book, in ascending position, so every level above is already in place.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from marketdata.quotes import CHANNEL_SHARDS, Quote, now_us

MAX_LEVELS = 10  # levels a side the exchange publishes and the ingestor keeps
BOOK_KEY_PREFIX = "book:"
BOOK_CHANNEL_PREFIX = "books:"

NEW, CHANGE, DELETE = "0", "1", "2"  # MDUpdateAction (279)

Level = tuple[Decimal, Decimal]  # (price, size)


def book_key(symbol: str) -> str:
    return BOOK_KEY_PREFIX + symbol


def book_channel_for(symbol: str) -> str:
    """The pub/sub channel carrying ``symbol``'s books: the shard of its quotes, under ``books:``."""
    return f"{BOOK_CHANNEL_PREFIX}shard:{zlib.crc32(symbol.encode()) % CHANNEL_SHARDS}"


def book_channels() -> list[str]:
    return [f"{BOOK_CHANNEL_PREFIX}shard:{i}" for i in range(CHANNEL_SHARDS)]


def served_depth(requested: int) -> int:
    """Levels a side for a MarketDepth (264) / ``depth`` request: 0 is the full book."""
    return MAX_LEVELS if requested == 0 else min(requested, MAX_LEVELS)


@dataclass(frozen=True, slots=True)
class DepthBook:
    symbol: str
    bids: tuple[Level, ...] = ()  # best (highest) first
    asks: tuple[Level, ...] = ()  # best (lowest) first
    last: Decimal | None = None
    last_size: Decimal | None = None
    volume: Decimal | None = None
    prev_close: Decimal | None = None
    exchange_ts_us: int = 0
    ingest_ts_us: int = 0

    def top(self, depth: int) -> DepthBook:
        """The best ``depth`` levels a side (the same object when it has no more)."""
        if len(self.bids) <= depth and len(self.asks) <= depth:
            return self
        return DepthBook(self.symbol, self.bids[:depth], self.asks[:depth], self.last, self.last_size,
                         self.volume, self.prev_close, self.exchange_ts_us, self.ingest_ts_us)

    def quote(self) -> Quote:
        """The top of this book as a quote."""
        bid, ask = (self.bids[0] if self.bids else (None, None)), (self.asks[0] if self.asks else (None, None))
        return Quote(self.symbol, bid=bid[0], ask=ask[0], bid_size=bid[1], ask_size=ask[1], last=self.last,
                     last_size=self.last_size, volume=self.volume, prev_close=self.prev_close,
                     exchange_ts_us=self.exchange_ts_us, ingest_ts_us=self.ingest_ts_us)

    @classmethod
    def from_quote(cls, quote: Quote) -> DepthBook:
        """A one-level book from a quote (a symbol whose book was not written: depth off)."""
        bids = ((quote.bid, quote.bid_size or Decimal(0)),) if quote.bid is not None else ()
        asks = ((quote.ask, quote.ask_size or Decimal(0)),) if quote.ask is not None else ()
        return cls(quote.symbol, bids, asks, quote.last, quote.last_size, quote.volume, quote.prev_close,
                   quote.exchange_ts_us, quote.ingest_ts_us)

    def age_seconds(self, at_us: int | None = None) -> float:
        return ((at_us if at_us is not None else now_us()) - self.ingest_ts_us) / 1_000_000

    def is_stale(self, max_age_seconds: float, at_us: int | None = None) -> bool:
        return self.ingest_ts_us == 0 or self.age_seconds(at_us) > max_age_seconds

    def to_json(self) -> str:
        return encode(self.symbol, self.bids, self.asks, (self.last, self.last_size, self.volume, self.prev_close),
                      self.exchange_ts_us, self.ingest_ts_us)

    @classmethod
    def from_json(cls, raw: str | bytes) -> DepthBook:
        data = json.loads(raw)

        def dec(name: str) -> Decimal | None:
            value = data.get(name)
            return Decimal(value) if value not in (None, "") else None

        def levels(name: str) -> tuple[Level, ...]:
            return tuple((Decimal(p), Decimal(s)) for p, s in data.get(name, ()))

        return cls(str(data["symbol"]), levels("bids"), levels("asks"), dec("last"), dec("last_size"),
                   dec("volume"), dec("prev_close"), int(data.get("exchange_ts_us") or 0),
                   int(data.get("ingest_ts_us") or 0))


_TRADE_FIELDS = ("last", "last_size", "volume", "prev_close")


def encode(symbol: str, bids: Iterable[Level], asks: Iterable[Level],
           trade: tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None],
           exchange_ts_us: int, ingest_ts_us: int) -> str:
    """A book's JSON (hand-built like ``Quote.to_json``: symbols are tickers, every other value a number)."""
    parts = ['{"symbol":"', symbol, '","bids":[', _levels_json(bids), '],"asks":[', _levels_json(asks), "]"]
    for name, value in zip(_TRADE_FIELDS, trade, strict=True):
        if value is not None:
            parts.append(f',"{name}":"{value}"')
    parts.append(f',"exchange_ts_us":"{exchange_ts_us}","ingest_ts_us":"{ingest_ts_us}"}}')
    return "".join(parts)


def _levels_json(levels: Iterable[Level]) -> str:
    # str() and + rather than an f-string per level: half the time (Decimal.__format__ is the slow path)
    inner = '"],["'.join([str(p) + '","' + str(s) for p, s in levels])
    return '["' + inner + '"]' if inner else ""


def sorted_levels(levels: dict[Decimal, Decimal], bids: bool, depth: int = MAX_LEVELS) -> list[Level]:
    """A side held as price → size, best first, at most ``depth`` levels."""
    return sorted(levels.items(), reverse=bids)[:depth]


# Level changes ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LevelChange:
    action: str  # NEW, CHANGE, DELETE
    price: Decimal
    size: Decimal | None  # None for DELETE
    position: int  # MDEntryPositionNo (290), 1 = best; see the module docstring for deletes


def level_changes(before: Sequence[Level], after: Sequence[Level]) -> list[LevelChange]:
    """The changes that turn one side ``before`` into ``after`` (both best first, unique prices)."""
    now = {price for price, _ in after}
    was = dict(before)
    out = [LevelChange(DELETE, before[i][0], None, i + 1) for i in range(len(before) - 1, -1, -1)
           if before[i][0] not in now]
    for i, (price, size) in enumerate(after):
        old = was.get(price)
        if old is None:
            out.append(LevelChange(NEW, price, size, i + 1))
        elif old != size:
            out.append(LevelChange(CHANGE, price, size, i + 1))
    return out


def apply_by_price(side: Sequence[Level], changes: Iterable[LevelChange], bids: bool) -> list[Level]:
    levels = dict(side)
    for change in changes:
        if change.action == DELETE:
            levels.pop(change.price, None)
        elif change.size is not None:
            levels[change.price] = change.size
    return sorted(levels.items(), reverse=bids)


def apply_by_position(side: Sequence[Level], changes: Iterable[LevelChange], depth: int = MAX_LEVELS) -> list[Level]:
    """How a position-keyed consumer applies them (the reference for clients; levels past ``depth`` drop)."""
    levels = list(side)
    for change in changes:
        index = change.position - 1
        if change.action == DELETE:
            del levels[index]
        elif change.action == NEW:
            assert change.size is not None
            levels.insert(index, (change.price, change.size))
        else:
            assert change.size is not None
            levels[index] = (change.price, change.size)
        del levels[depth:]
    return levels
