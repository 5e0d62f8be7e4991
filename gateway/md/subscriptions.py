"""Who subscribed to what, and what each session is owed (pure: no I/O).

A MarketDataRequest (35=V) is checked by ``check_request``; an accepted subscription (263=1) lives
in its session's ``SessionMarketData`` until unsubscribed (263=2) or the session logs out. Updates
of a session's symbols wait in its conflating outbox (at most one pending quote per symbol, the
session's symbols capped), so a client costs bounded memory however fast quotes change; ``drain``
turns them into the messages to send: one 35=X per subscription carrying every change since the
last drain, or one 35=W per symbol for subscriptions that asked for full refreshes (265=0).
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
    increment_entries,
    is_newer,
    snapshot_entries,
)
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
    if request.depth not in (0, 1):
        return MdReject(req_id, UNSUPPORTED_MARKET_DEPTH,
                        f"MarketDepth {request.depth} not supported: top of book only (0 or 1)")
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
        watched = set(session.by_symbol) if session is not None else set()
        total = len(watched | set(request.symbols))
        if total > caps.max_symbols:
            return MdReject(req_id, INSUFFICIENT_BANDWIDTH,
                            f"at most {caps.max_symbols} symbols per session ({total} requested in all)")
    return types


@dataclass
class SessionMarketData:
    """One FIX session's subscriptions and pending updates."""

    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    by_symbol: dict[str, list[str]] = field(default_factory=dict)  # symbol -> MDReqIDs
    outbox: ConflatingOutbox = field(default_factory=ConflatingOutbox)
    snapshots_in_flight: int = 0  # while > 0 the outbox is kept (updates wait for the snapshot)

    def add(self, sub: Subscription) -> list[str]:
        """Register ``sub``; returns the symbols the session did not watch before."""
        new = []
        for symbol in sub.symbols:
            holders = self.by_symbol.setdefault(symbol, [])
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
        for symbol in sub.symbols:
            holders = self.by_symbol.get(symbol, [])
            if req_id in holders:
                holders.remove(req_id)
            if not holders:
                self.by_symbol.pop(symbol, None)
                gone.append(symbol)
        self.outbox.discard(gone)
        return gone

    def drain(self, parse: Callable[[str], Quote | None]) -> list[Snapshot | Increment]:
        """The messages owed for the pending updates (newest quote per symbol), in first-changed order."""
        increments: dict[str, list[MdEntry]] = {}
        out: list[Snapshot | Increment] = []
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


@dataclass
class SubscriptionBook:
    """Every session of one gateway process, and which sessions watch each symbol."""

    sessions: dict[str, SessionMarketData] = field(default_factory=dict)
    watchers: dict[str, set[str]] = field(default_factory=dict)  # symbol -> session keys

    def session(self, key: str) -> SessionMarketData:
        return self.sessions.setdefault(key, SessionMarketData())

    def subscribe(self, key: str, sub: Subscription) -> None:
        for symbol in self.session(key).add(sub):
            self.watchers.setdefault(symbol, set()).add(key)

    def unsubscribe(self, key: str, req_id: str) -> bool:
        state = self.sessions.get(key)
        gone = state.remove(req_id) if state is not None else None
        if gone is None:
            return False
        self._unwatch(key, gone)
        return True

    def drop_session(self, key: str) -> None:
        state = self.sessions.pop(key, None)
        if state is not None:
            self._unwatch(key, list(state.by_symbol))

    def offer(self, symbol: str, payload: str) -> set[str] | None:
        """An update from the quote channel: queued for each session watching ``symbol``; returns them."""
        keys = self.watchers.get(symbol)
        if keys:
            for key in keys:
                self.sessions[key].outbox.offer(symbol, payload)
        return keys

    def _unwatch(self, key: str, symbols: list[str]) -> None:
        for symbol in symbols:
            keys = self.watchers.get(symbol)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.watchers[symbol]
