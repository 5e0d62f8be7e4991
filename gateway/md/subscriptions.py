"""Who subscribed to what, and what each session is owed (pure: no I/O).

A MarketDataRequest (35=V) is checked by ``check_request``; an accepted subscription (263=1) lives
in its session's ``SessionMarketData`` until unsubscribed (263=2) or the session logs out. Updates
of a session's symbols wait in its conflating outbox (at most one pending quote per symbol, the
session's symbols capped), so a client costs bounded memory however fast quotes change; ``drain``
turns them into the messages to send: one 35=X per subscription carrying every change since the
last drain, or one 35=W per symbol for subscriptions that asked for full refreshes (265=0).

Depth subscriptions (MarketDepth 264 = 0 or 2..10, ADR 023) watch the symbols' book records rather than
their quotes: the session keeps them apart (``book_symbols``, ``book_outbox``), and the process-wide
``SubscriptionBook`` has ``book_watchers`` next to ``watchers``, fed from the ``books:`` channels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.md.entries import (
    BID,
    CLOSING_PRICE,
    OFFER,
    TRADE,
    TRADE_VOLUME,
    MdEntry,
    book_increment_entries,
    book_snapshot_entries,
    increment_entries,
    is_newer,
    snapshot_entries,
)
from marketdata.depth import MAX_LEVELS, DepthBook
from marketdata.quotes import Quote
from marketdata.subscriptions import ConflatingOutbox

SNAPSHOT, SUBSCRIBE, UNSUBSCRIBE = "0", "1", "2"  # SubscriptionRequestType (263)
FULL_REFRESH, INCREMENTAL = "0", "1"  # MDUpdateType (265)
SUPPORTED_TYPES = frozenset({BID, OFFER, TRADE, CLOSING_PRICE, TRADE_VOLUME})
DEFAULT_TYPES = frozenset({BID, OFFER, TRADE})

# MDReqRejReason (281)
UNKNOWN_SYMBOL = "0"
DUPLICATE_MDREQID = "1"
INSUFFICIENT_BANDWIDTH = "2"
UNSUPPORTED_SUBSCRIPTION_TYPE = "4"
UNSUPPORTED_MARKET_DEPTH = "5"
UNSUPPORTED_UPDATE_TYPE = "6"
UNSUPPORTED_ENTRY_TYPE = "8"


@dataclass(frozen=True, slots=True)
class MdRequest:
    req_id: str
    request_type: str
    depth: int
    update_type: str | None
    entry_types: tuple[str, ...]
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MdReject:
    req_id: str
    reason: str | None  # None: no MDReqRejReason fits (e.g. unsubscribing an unknown MDReqID)
    text: str


@dataclass
class Subscription:
    req_id: str
    symbols: tuple[str, ...]
    types: frozenset[str]
    full_refresh: bool = False
    sent: dict[str, Quote | None] = field(default_factory=dict)  # the quote each symbol was last sent at
    depth: int = 1  # levels a side: 1 top of book (from quotes), more from the book records
    books: dict[str, DepthBook | None] = field(default_factory=dict)  # depth > 1: the book last sent (cut)

    @property
    def by_book(self) -> bool:
        return self.depth > 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    req_id: str
    symbol: str
    entries: list[MdEntry]


@dataclass(frozen=True, slots=True)
class Increment:
    req_id: str
    entries: list[MdEntry]


@dataclass(frozen=True, slots=True)
class MdCaps:
    """What one session may ask of the market data service (ADR 007)."""

    max_symbols: int = 500  # symbols watched by all the session's subscriptions together
    max_subscriptions: int = 100  # live MDReqIDs
    max_snapshot_symbols: int = 100  # symbols in one snapshot-only request (263=0)
    max_depth: int = MAX_LEVELS  # levels a side the ingestor keeps (BROKERAGE_MARKETDATA_DEPTH_LEVELS)

    def depth_of(self, requested: int) -> int:
        """Levels a side served for MarketDepth (264) ``requested``: 0 is the full book."""
        return self.max_depth if requested == 0 else min(requested, self.max_depth)


def check_request(request: MdRequest, is_known: Callable[[str], bool], session: SessionMarketData | None,
                  max_symbols: int, caps: MdCaps | None = None) -> MdReject | frozenset[str]:
    """Why a snapshot/subscribe request is refused, or the entry types it will get."""
    caps = caps or MdCaps(max_symbols=max_symbols)
    req_id = request.req_id
    if request.request_type not in (SNAPSHOT, SUBSCRIBE):
        return MdReject(req_id, UNSUPPORTED_SUBSCRIPTION_TYPE,
                        f"SubscriptionRequestType {request.request_type!r} not supported "
                        "(0 snapshot, 1 snapshot + updates, 2 unsubscribe)")
    if session is not None and req_id in session.subscriptions:
        return MdReject(req_id, DUPLICATE_MDREQID, f"MDReqID {req_id} is already subscribed")
    if request.depth > caps.max_depth:
        return MdReject(req_id, UNSUPPORTED_MARKET_DEPTH,
                        f"MarketDepth {request.depth} not supported: 0 (full book, {caps.max_depth} levels), "
                        f"1 (top of book)" + (f" or 2 to {caps.max_depth} levels" if caps.max_depth > 1 else ""))
    if request.request_type == SUBSCRIBE and request.update_type not in (None, FULL_REFRESH, INCREMENTAL):
        return MdReject(req_id, UNSUPPORTED_UPDATE_TYPE, f"MDUpdateType {request.update_type!r} not supported")
    types = frozenset(request.entry_types) & SUPPORTED_TYPES if request.entry_types else DEFAULT_TYPES
    if not types:
        return MdReject(req_id, UNSUPPORTED_ENTRY_TYPE,
                        f"none of the MDEntryTypes {sorted(set(request.entry_types))} is supported (0, 1, 2, 5, B)")
    if not request.symbols:
        return MdReject(req_id, UNKNOWN_SYMBOL, "no symbol requested (NoRelatedSym 146)")
    unknown = [s for s in request.symbols if not is_known(s)]
    if unknown:
        return MdReject(req_id, UNKNOWN_SYMBOL, "unknown symbol: " + ", ".join(unknown))
    if request.request_type == SNAPSHOT and len(request.symbols) > caps.max_snapshot_symbols:
        return MdReject(req_id, INSUFFICIENT_BANDWIDTH,
                        f"at most {caps.max_snapshot_symbols} symbols per snapshot request "
                        f"({len(request.symbols)} requested)")
    live = len(session.subscriptions) if session is not None else 0
    if request.request_type == SUBSCRIBE and live >= caps.max_subscriptions:
        return MdReject(req_id, INSUFFICIENT_BANDWIDTH,
                        f"at most {caps.max_subscriptions} live subscriptions (MDReqIDs) per session")
    if request.request_type == SUBSCRIBE:
        watched = set(session.by_symbol) | set(session.book_symbols) if session is not None else set()
        total = len(watched | set(request.symbols))
        if total > caps.max_symbols:
            return MdReject(req_id, INSUFFICIENT_BANDWIDTH,
                            f"at most {caps.max_symbols} symbols per session ({total} requested in all)")
    return types


@dataclass
class SessionMarketData:
    """One FIX session's subscriptions and pending updates."""

    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    by_symbol: dict[str, list[str]] = field(default_factory=dict)  # symbol -> MDReqIDs (top of book)
    outbox: ConflatingOutbox = field(default_factory=ConflatingOutbox)
    snapshots_in_flight: int = 0  # while > 0 the outbox is kept (updates wait for the snapshot)
    book_symbols: dict[str, list[str]] = field(default_factory=dict)  # symbol -> MDReqIDs (depth)
    book_outbox: ConflatingOutbox = field(default_factory=ConflatingOutbox)

    def _holders(self, sub: Subscription) -> dict[str, list[str]]:
        return self.book_symbols if sub.by_book else self.by_symbol

    def add(self, sub: Subscription) -> list[str]:
        """Register ``sub``; returns the symbols the session did not watch before (quotes or books, as
        ``sub`` watches)."""
        new = []
        by_symbol = self._holders(sub)
        for symbol in sub.symbols:
            holders = by_symbol.setdefault(symbol, [])
            if not holders:
                new.append(symbol)
            holders.append(sub.req_id)
        self.subscriptions[sub.req_id] = sub
        return new

    def remove(self, req_id: str) -> list[str] | None:
        """Drop a subscription; returns the symbols the session no longer watches (None: no such id)."""
        sub = self.subscriptions.pop(req_id, None)
        if sub is None:
            return None
        gone = []
        by_symbol = self._holders(sub)
        for symbol in sub.symbols:
            holders = by_symbol.get(symbol, [])
            if req_id in holders:
                holders.remove(req_id)
            if not holders:
                by_symbol.pop(symbol, None)
                gone.append(symbol)
        (self.book_outbox if sub.by_book else self.outbox).discard(gone)
        return gone

    def drain(self, parse: Callable[[str], Quote | None],
              parse_book: Callable[[str], DepthBook | None] | None = None) -> list[Snapshot | Increment]:
        """The messages owed for the pending updates (newest quote or book per symbol), in first-changed
        order."""
        increments: dict[str, list[MdEntry]] = {}
        out: list[Snapshot | Increment] = []
        if parse_book is not None and self.book_outbox.pending:
            self._drain_books(parse_book, increments, out)
        for symbol, payload in self.outbox.take():
            quote = parse(payload)
            if quote is None:
                continue
            for req_id in self.by_symbol.get(symbol, ()):
                sub = self.subscriptions[req_id]
                before = sub.sent.get(symbol)
                if before == quote or not is_newer(before, quote):
                    continue
                sub.sent[symbol] = quote
                if sub.full_refresh:
                    out.append(Snapshot(req_id, symbol, snapshot_entries(quote, sub.types)))
                else:
                    entries = increment_entries(symbol, before, quote, sub.types)
                    if entries:
                        increments.setdefault(req_id, []).extend(entries)
        out += [Increment(req_id, entries) for req_id, entries in increments.items()]
        return out

    def _drain_books(self, parse_book: Callable[[str], DepthBook | None], increments: dict[str, list[MdEntry]],
                     out: list[Snapshot | Increment]) -> None:
        for symbol, payload in self.book_outbox.take():
            book = parse_book(payload)
            if book is None:
                continue
            for req_id in self.book_symbols.get(symbol, ()):
                sub = self.subscriptions[req_id]
                before = sub.books.get(symbol)
                if before is not None and book.ingest_ts_us < before.ingest_ts_us:
                    continue  # read late from pub/sub: older than what the client has
                after = book.top(sub.depth)
                if before == after:
                    continue
                sub.books[symbol] = after
                if sub.full_refresh:
                    out.append(Snapshot(req_id, symbol, book_snapshot_entries(after, sub.types)))
                else:
                    entries = book_increment_entries(symbol, before, after, sub.types)
                    if entries:
                        increments.setdefault(req_id, []).extend(entries)


@dataclass
class SubscriptionBook:
    """Every session of one gateway process, and which sessions watch each symbol."""

    sessions: dict[str, SessionMarketData] = field(default_factory=dict)
    watchers: dict[str, set[str]] = field(default_factory=dict)  # symbol -> session keys
    book_watchers: dict[str, set[str]] = field(default_factory=dict)  # symbol -> session keys (depth)

    def session(self, key: str) -> SessionMarketData:
        return self.sessions.setdefault(key, SessionMarketData())

    def subscribe(self, key: str, sub: Subscription) -> None:
        watchers = self.book_watchers if sub.by_book else self.watchers
        for symbol in self.session(key).add(sub):
            watchers.setdefault(symbol, set()).add(key)

    def unsubscribe(self, key: str, req_id: str) -> bool:
        state = self.sessions.get(key)
        sub = state.subscriptions.get(req_id) if state is not None else None
        gone = state.remove(req_id) if state is not None else None
        if gone is None or sub is None:
            return False
        self._unwatch(key, gone, self.book_watchers if sub.by_book else self.watchers)
        return True

    def drop_session(self, key: str) -> None:
        state = self.sessions.pop(key, None)
        if state is not None:
            self._unwatch(key, list(state.by_symbol))
            self._unwatch(key, list(state.book_symbols), self.book_watchers)

    def offer_book(self, symbol: str, payload: str) -> set[str] | None:
        """A book record from the books channel: queued for each session watching ``symbol`` at depth."""
        keys = self.book_watchers.get(symbol)
        if keys:
            for key in keys:
                self.sessions[key].book_outbox.offer(symbol, payload)
        return keys

    def offer(self, symbol: str, payload: str) -> set[str] | None:
        """An update from the quote channel: queued for each session watching ``symbol``; returns them."""
        keys = self.watchers.get(symbol)
        if keys:
            for key in keys:
                self.sessions[key].outbox.offer(symbol, payload)
        return keys

    def _unwatch(self, key: str, symbols: list[str], watchers: dict[str, set[str]] | None = None) -> None:
        watchers = self.watchers if watchers is None else watchers
        for symbol in symbols:
            keys = watchers.get(symbol)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del watchers[symbol]
