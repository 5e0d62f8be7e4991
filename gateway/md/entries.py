"""MDEntries of a client's snapshot (35=W) and increments (35=X), computed from quotes (pure).

The gateway republishes the top of book it keeps in Redis (one ``Quote`` per symbol), so every
book entry sits at MDEntryPositionNo 1. Increments compare the quote a subscription was last sent
with the newest one:

* bid/offer: 0 New when the side appears, 1 Change when its price or size moves, 2 Delete (with
  the old price) when it disappears;
* trade: 0 New with the last price and size whenever a trade happened (last, size or volume moved);
* closing price (5) and trade volume (B): 1 Change when they move.

A depth subscription (MarketDepth 264 = 0 or 2..10) is served from the book record instead
(``marketdata.depth``): its snapshot lists every level at MDEntryPositionNo 1..N, and its increments
carry the level changes of ``marketdata.depth.level_changes`` (2 Delete deepest first, then 0 New and
1 Change in ascending position, each with 270 and 290); trades, closing price and volume as above.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from marketdata.depth import DepthBook, level_changes
from marketdata.quotes import Quote

NEW, CHANGE, DELETE = "0", "1", "2"
BID, OFFER, TRADE, CLOSING_PRICE, TRADE_VOLUME = "0", "1", "2", "5", "B"


@dataclass(frozen=True, slots=True)
class MdEntry:
    entry_type: str
    price: Decimal | None
    size: Decimal | None
    position: int | None = None
    action: str | None = None  # increments only
    symbol: str | None = None  # increments only


def is_newer(before: Quote | None, after: Quote) -> bool:
    """Whether ``after`` may replace ``before``: a batch read late from pub/sub may carry a quote older
    than the snapshot already sent, and must not move the client back in time."""
    return before is None or after.ingest_ts_us >= before.ingest_ts_us


def _sides(quote: Quote | None) -> tuple[tuple[str, Decimal | None, Decimal | None], ...]:
    if quote is None:
        return ((BID, None, None), (OFFER, None, None))
    return ((BID, quote.bid, quote.bid_size), (OFFER, quote.ask, quote.ask_size))


def snapshot_entries(quote: Quote | None, types: frozenset[str]) -> list[MdEntry]:
    """The full refresh of one symbol (empty when the symbol has no quote yet)."""
    if quote is None:
        return []
    entries = [MdEntry(t, price, size, 1) for t, price, size in _sides(quote) if t in types and price is not None]
    if TRADE in types and quote.last is not None:
        entries.append(MdEntry(TRADE, quote.last, quote.last_size))
    if CLOSING_PRICE in types and quote.prev_close is not None:
        entries.append(MdEntry(CLOSING_PRICE, quote.prev_close, None))
    if TRADE_VOLUME in types and quote.volume is not None:
        entries.append(MdEntry(TRADE_VOLUME, None, quote.volume))
    return entries


def increment_entries(symbol: str, before: Quote | None, after: Quote, types: frozenset[str]) -> list[MdEntry]:
    """What moved between the quote last sent and ``after``, as incremental MDEntries."""
    entries: list[MdEntry] = []
    for (entry_type, old_px, old_size), (_, new_px, new_size) in zip(_sides(before), _sides(after), strict=True):
        if entry_type not in types or (old_px, old_size) == (new_px, new_size):
            continue
        if new_px is None:
            if old_px is not None:
                entries.append(MdEntry(entry_type, old_px, None, None, DELETE, symbol))
        else:
            action = NEW if old_px is None else CHANGE
            entries.append(MdEntry(entry_type, new_px, new_size, 1, action, symbol))
    if TRADE in types and after.last is not None:
        traded = before is None or (before.last, before.last_size, before.volume) != (
            after.last, after.last_size, after.volume)
        if traded:
            entries.append(MdEntry(TRADE, after.last, after.last_size, None, NEW, symbol))
    if CLOSING_PRICE in types and after.prev_close is not None and (
            before is None or before.prev_close != after.prev_close):
        entries.append(MdEntry(CLOSING_PRICE, after.prev_close, None, None, CHANGE, symbol))
    if TRADE_VOLUME in types and after.volume is not None and (before is None or before.volume != after.volume):
        entries.append(MdEntry(TRADE_VOLUME, None, after.volume, None, CHANGE, symbol))
    return entries


_LEVEL_TYPES = frozenset({BID, OFFER})


def book_snapshot_entries(book: DepthBook | None, types: frozenset[str]) -> list[MdEntry]:
    """The full refresh of one symbol at depth: every level of ``book`` (already cut to the depth)."""
    if book is None:
        return []
    entries = [MdEntry(entry_type, price, size, i + 1)
               for entry_type, levels in ((BID, book.bids), (OFFER, book.asks)) if entry_type in types
               for i, (price, size) in enumerate(levels)]
    return entries + snapshot_entries(book.quote(), types - _LEVEL_TYPES)


def book_increment_entries(symbol: str, before: DepthBook | None, after: DepthBook,
                           types: frozenset[str]) -> list[MdEntry]:
    """What moved between the book last sent and ``after`` (both cut to the subscription's depth)."""
    entries: list[MdEntry] = []
    for entry_type, old, new in ((BID, before.bids if before else (), after.bids),
                                 (OFFER, before.asks if before else (), after.asks)):
        if entry_type in types and old != new:
            entries += [MdEntry(entry_type, c.price, c.size, c.position, c.action, symbol)
                        for c in level_changes(old, new)]
    return entries + increment_entries(symbol, before.quote() if before else None, after.quote(),
                                       types - _LEVEL_TYPES)
