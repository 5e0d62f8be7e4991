"""Market data subscriptions and what to publish for them (pure; ``exchange.fix_app`` encodes it).

A subscription (one MarketDataRequest, 35=V) names symbols, a depth (MarketDepth 264: 1 = top of book,
N = the best N levels a side, 0 = the full book; at most ``MAX_DEPTH`` = 10 levels are published, a
larger N is served as 10) and the entry types wanted: 0 bid, 1 offer, 2 trade, 5 closing price (the
reference price, i.e. previous close), B trade volume. On subscribing it gets a snapshot (35=W) per
symbol, levels in order with MDEntryPositionNo (290, 1 = best); afterwards, at each flush, one
incremental refresh (35=X) per subscription carrying every change since the last one, coalesced:

* book levels: MDUpdateAction 2 Delete (a price left the top N), 0 New (a price entered it),
  1 Change (its size changed), each with its price (270) and position (290). Deletes come first,
  deepest first, at their position in the book as it stands; then News and Changes in ascending
  position of the new book. So a consumer may key levels by price (Delete drops the price, New/Change
  set its size) or by position (delete / insert / overwrite at 290) and holds exactly the top N
  either way (fix_specs/market-data.md);
* a trade is reported once per flush as MDUpdateAction 0 with the last trade's price and size;
* trade volume (B) is sent as a Change with the cumulative session volume.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from exchange.simulation import Simulation

MAX_DEPTH = 10  # levels a side (issue 13: the exchange publishes up to 10)
SUPPORTED_TYPES = frozenset({"0", "1", "2", "5", "B"})
DEFAULT_TYPES = ("0", "1", "2")

# MDReqRejReason (281)
UNKNOWN_SYMBOL = "0"
DUPLICATE_MDREQID = "1"
UNSUPPORTED_SUBSCRIPTION_TYPE = "4"
UNSUPPORTED_MARKET_DEPTH = "5"
UNSUPPORTED_ENTRY_TYPE = "8"

NEW, CHANGE, DELETE = "0", "1", "2"


@dataclass(frozen=True, slots=True)
class BookView:
    bids: tuple[tuple[int, int], ...]  # (price ticks, size), best first
    asks: tuple[tuple[int, int], ...]
    trade_count: int
    last_px: int | None
    last_qty: int
    volume: int


@dataclass(frozen=True, slots=True)
class MdEntry:
    entry_type: str
    price: Decimal | None
    size: Decimal | None
    position: int | None = None
    action: str | None = None  # incremental only
    symbol: str | None = None  # incremental only


@dataclass
class Subscription:
    session: str
    req_id: str
    symbols: tuple[str, ...]
    depth: int
    types: frozenset[str]
    published: dict[str, BookView] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MdReject:
    session: str
    req_id: str
    reason: str
    text: str


def view(sim: Simulation, symbol: str, depth: int) -> BookView:
    engine = sim.venue.engines[symbol]
    book = engine.book
    return BookView(tuple(book.bids.depth(depth)), tuple(book.asks.depth(depth)), engine.trade_count,
                    engine.last_px, engine.last_qty, engine.volume)


class MarketData:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.subscriptions: dict[tuple[str, str], Subscription] = {}

    def subscribe(self, session: str, req_id: str, request_type: str, depth: int, types: list[str],
                  symbols: list[str]) -> MdReject | list[tuple[str, list[MdEntry]]]:
        """Validate a 35=V; returns a reject, or the snapshots (symbol, entries) to send now."""
        if request_type == "2":
            self.subscriptions.pop((session, req_id), None)
            return []
        if request_type not in ("0", "1"):
            return MdReject(session, req_id, UNSUPPORTED_SUBSCRIPTION_TYPE, f"unsupported request type {request_type}")
        if (session, req_id) in self.subscriptions:
            return MdReject(session, req_id, DUPLICATE_MDREQID, f"MDReqID {req_id} already subscribed")
        if depth < 0:
            return MdReject(session, req_id, UNSUPPORTED_MARKET_DEPTH, f"unsupported market depth {depth}")
        wanted = frozenset(types or DEFAULT_TYPES) & SUPPORTED_TYPES
        if not wanted:
            return MdReject(session, req_id, UNSUPPORTED_ENTRY_TYPE,
                            f"none of the entry types {sorted(set(types))} is supported (0, 1, 2, 5, B)")
        unknown = [s for s in symbols if s not in self.sim.venue.engines]
        if unknown or not symbols:
            return MdReject(session, req_id, UNKNOWN_SYMBOL, f"unknown symbol: {', '.join(unknown) or '(none)'}")
        sub = Subscription(session, req_id, tuple(dict.fromkeys(symbols)), min(depth or MAX_DEPTH, MAX_DEPTH), wanted)
        snapshots = []
        for symbol in sub.symbols:
            current = view(self.sim, symbol, sub.depth)
            sub.published[symbol] = current
            snapshots.append((symbol, self._snapshot(symbol, current, sub.types)))
        if request_type == "1":
            self.subscriptions[(session, req_id)] = sub
        return snapshots

    def drop_session(self, session: str) -> None:
        for key in [k for k in self.subscriptions if k[0] == session]:
            del self.subscriptions[key]

    def flush(self, changed: set[str]) -> list[tuple[Subscription, list[MdEntry]]]:
        """One incremental refresh per subscription touched by ``changed`` symbols (if anything moved)."""
        out = []
        views: dict[tuple[str, int], BookView] = {}
        for sub in self.subscriptions.values():
            entries: list[MdEntry] = []
            for symbol in sub.symbols:
                if symbol not in changed:
                    continue
                key = (symbol, sub.depth)
                current = views.get(key) or views.setdefault(key, view(self.sim, symbol, sub.depth))
                entries += self._increment(symbol, sub.published[symbol], current, sub.types)
                sub.published[symbol] = current
            if entries:
                out.append((sub, entries))
        return out

    # Entries -----------------------------------------------------------------------------------
    def _price(self, symbol: str, ticks: int) -> Decimal:
        return self.sim.venue.price(symbol, ticks)

    def _snapshot(self, symbol: str, v: BookView, types: frozenset[str]) -> list[MdEntry]:
        entries = []
        for entry_type, levels in (("0", v.bids), ("1", v.asks)):
            if entry_type in types:
                entries += [MdEntry(entry_type, self._price(symbol, px), Decimal(qty), i + 1)
                            for i, (px, qty) in enumerate(levels)]
        if "2" in types and v.last_px is not None:
            entries.append(MdEntry("2", self._price(symbol, v.last_px), Decimal(v.last_qty)))
        if "5" in types:
            entries.append(MdEntry("5", self.sim.instruments[symbol].reference_price, None))
        if "B" in types:
            entries.append(MdEntry("B", None, Decimal(v.volume)))
        return entries

    def _increment(self, symbol: str, old: BookView, new: BookView, types: frozenset[str]) -> list[MdEntry]:
        entries = []
        for entry_type, before, after in (("0", old.bids, new.bids), ("1", old.asks, new.asks)):
            if entry_type not in types or before == after:
                continue
            was = dict(before)
            now = {px: (qty, i + 1) for i, (px, qty) in enumerate(after)}
            # deepest first, so each delete's position holds in the book as the consumer has it then
            entries += [MdEntry(entry_type, self._price(symbol, before[i][0]), None, i + 1, DELETE, symbol)
                        for i in range(len(before) - 1, -1, -1) if before[i][0] not in now]
            for px, (qty, position) in now.items():
                if px not in was:
                    entries.append(MdEntry(entry_type, self._price(symbol, px), Decimal(qty), position, NEW, symbol))
                elif was[px] != qty:
                    entries.append(MdEntry(entry_type, self._price(symbol, px), Decimal(qty), position, CHANGE,
                                           symbol))
        if new.trade_count != old.trade_count and new.last_px is not None:
            if "2" in types:
                entries.append(MdEntry("2", self._price(symbol, new.last_px), Decimal(new.last_qty), None, NEW,
                                       symbol))
            if "B" in types:
                entries.append(MdEntry("B", None, Decimal(new.volume), None, CHANGE, symbol))
        return entries
