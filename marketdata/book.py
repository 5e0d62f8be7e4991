"""Top-of-book quotes built from market data entries, coalesced per symbol (pure: no I/O).

The exchange sends book levels keyed by price (New / Change / Delete), trades, the closing price
and the cumulative volume. ``QuoteBook`` keeps each symbol's levels and trade state, applies
snapshots (replace) and increments (in order), and remembers which symbols changed. ``drain`` hands
out one ``Quote`` per changed symbol (many updates to a symbol between two writes become one write:
conflation), stamped with the latest exchange time and the ingest time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from marketdata.fix_md import BID, CLOSE, DELETE, OFFER, TRADE, VOLUME, Increment, MdEntry, Snapshot
from marketdata.quotes import Quote, quote_json

MAX_LEVELS = 10  # levels a side the exchange publishes (marketdata.depth.MAX_LEVELS)


@dataclass(slots=True)
class SymbolState:
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    last: Decimal | None = None
    last_size: Decimal | None = None
    volume: Decimal | None = None
    prev_close: Decimal | None = None
    exchange_ts_us: int = 0
    channel: int = -1  # quotes:shard:N of the symbol, derived at its first write (the writer's, ADR 038)

    def quote(self, symbol: str, ingest_ts_us: int) -> Quote:
        bid = max(self.bids) if self.bids else None
        ask = min(self.asks) if self.asks else None
        return Quote(
            symbol=symbol,
            bid=bid,
            ask=ask,
            bid_size=self.bids[bid] if bid is not None else None,
            ask_size=self.asks[ask] if ask is not None else None,
            last=self.last,
            last_size=self.last_size,
            volume=self.volume,
            prev_close=self.prev_close,
            exchange_ts_us=self.exchange_ts_us,
            ingest_ts_us=ingest_ts_us,
        )

    def quote_json(self, symbol: str, ingest_ts_us: int) -> str:
        """``self.quote(...).to_json()`` without building the Quote (the ingestor's hot path)."""
        bids, asks = self.bids, self.asks
        bid = max(bids) if bids else None
        ask = min(asks) if asks else None
        return quote_json(symbol, bid, ask, bids[bid] if bid is not None else None,
                          asks[ask] if ask is not None else None, self.last, self.last_size, self.volume,
                          self.prev_close, self.exchange_ts_us, ingest_ts_us)


_PARSED: dict[str | None, Decimal | None] = {}  # prices and sizes repeat a lot: parse each text once


def _decimal(text: str | None) -> Decimal | None:
    """A finite, non-negative decimal, or None for a missing or unreadable value."""
    if not text:
        return None
    value = _PARSED.get(text, _MISSING)
    if value is not _MISSING:
        return value  # type: ignore[no-any-return]
    try:
        parsed: Decimal | None = Decimal(text)
    except InvalidOperation:
        parsed = None
    if parsed is not None and not (parsed.is_finite() and parsed >= 0):
        parsed = None
    if len(_PARSED) >= 200_000:
        _PARSED.clear()
    _PARSED[text] = parsed
    return parsed


_MISSING: Any = object()


class QuoteBook:
    def __init__(self) -> None:
        self.states: dict[str, SymbolState] = {}
        self._dirty: dict[str, None] = {}  # insertion-ordered set
        self.entries_applied = 0
        self.entries_rejected = 0

    @property
    def pending(self) -> int:
        return len(self._dirty)

    def apply_snapshot(self, message: Snapshot) -> None:
        state = self.states.get(message.symbol)
        if state is None:
            state = self.states[message.symbol] = SymbolState()
        state.bids.clear()
        state.asks.clear()
        for entry in message.entries:
            self._apply(state, entry)
        state.exchange_ts_us = max(state.exchange_ts_us, message.exchange_ts_us)
        self._dirty[message.symbol] = None

    def apply_increment(self, message: Increment) -> None:
        states = self.states
        dirty = self._dirty
        ts = message.exchange_ts_us
        apply = self._apply
        parsed = _PARSED.get  # _decimal's cache, looked up inline: a call per price and size cost 10% here
        applied = 0
        for entry in message.entries:
            symbol = entry[2]
            state = states.get(symbol)
            if state is None:
                state = states[symbol] = SymbolState()
            kind = entry[1]
            # Book levels are nearly all of the traffic: handled inline, the rest by _apply.
            if kind in (BID, OFFER):
                price = parsed(entry[3], _MISSING)
                if price is _MISSING:
                    price = _decimal(entry[3])
                if price is None:
                    self.entries_rejected += 1
                    continue
                levels = state.bids if kind == BID else state.asks
                if entry[0] == DELETE:
                    levels.pop(price, None)
                else:
                    size = parsed(entry[4], _MISSING)
                    if size is _MISSING:
                        size = _decimal(entry[4])
                    if size is None:
                        self.entries_rejected += 1
                        continue
                    if size:
                        levels[price] = size
                        if len(levels) > MAX_LEVELS:  # a feed that never deletes must not grow us
                            del levels[min(levels) if kind == BID else max(levels)]
                    else:
                        levels.pop(price, None)
                applied += 1
            elif not apply(state, entry):
                continue
            if ts > state.exchange_ts_us:
                state.exchange_ts_us = ts
            dirty[symbol] = None
        self.entries_applied += applied

    def _apply(self, state: SymbolState, entry: MdEntry) -> bool:
        kind = entry.entry_type
        if kind in (BID, OFFER):
            levels = state.bids if kind == BID else state.asks
            price = _decimal(entry.price)
            if price is None:
                self.entries_rejected += 1
                return False
            if entry.action == DELETE:
                levels.pop(price, None)
            else:
                size = _decimal(entry.size)
                if size is None:
                    self.entries_rejected += 1
                    return False
                if size:
                    levels[price] = size
                    if len(levels) > MAX_LEVELS:  # a feed that never deletes must not grow us without bound
                        del levels[min(levels) if kind == BID else max(levels)]
                else:
                    levels.pop(price, None)
        elif kind == TRADE:
            price, size = _decimal(entry.price), _decimal(entry.size)
            if price is None:
                self.entries_rejected += 1
                return False
            state.last, state.last_size = price, size
        elif kind == CLOSE:
            price = _decimal(entry.price)
            if price is None:
                self.entries_rejected += 1
                return False
            state.prev_close = price
        elif kind == VOLUME:
            size = _decimal(entry.size)
            if size is None:
                self.entries_rejected += 1
                return False
            state.volume = size
        else:
            return False  # an entry type we do not keep (opening price, ...): ignored, not an error
        self.entries_applied += 1
        return True

    def mark_dirty(self, symbol: str) -> None:
        """Write this symbol again at the next drain (its last write failed)."""
        if symbol in self.states:
            self._dirty[symbol] = None

    def take(self, limit: int | None) -> list[str]:
        """The symbols changed since the last take (oldest change first), at most ``limit``; they are no
        longer pending (the writer marks them dirty again if their write fails)."""
        if limit is None or limit >= len(self._dirty):
            symbols = list(self._dirty)
            self._dirty.clear()
            return symbols
        symbols = []
        for symbol in self._dirty:
            symbols.append(symbol)
            if len(symbols) == limit:
                break
        for symbol in symbols:
            del self._dirty[symbol]
        return symbols

    def drain(self, ingest_ts_us: int, limit: int | None = None) -> list[Quote]:
        """One quote per symbol changed since the last drain (oldest change first), at most ``limit``."""
        states = self.states
        return [states[s].quote(s, ingest_ts_us) for s in self.take(limit)]

    def drain_encoded(self, ingest_ts_us: int, limit: int | None = None) -> list[tuple[str, str, int]]:
        """Like ``drain`` but as (symbol, quote JSON, exchange time µs), ready for the writer."""
        states = self.states
        out = []
        for s in self.take(limit):
            state = states[s]
            out.append((s, state.quote_json(s, ingest_ts_us), state.exchange_ts_us))
        return out
