"""The ingestor's FIX side: a QuickFIX initiator to the exchange's market data session.

Why QuickFIX (through ``fixsession``) rather than a hand-rolled simplefix client: logon, heartbeats,
sequence checks and reconnects are the engine's job and already configured the same way for every
FIX connection of the system; the cost that matters is per message, and here messages are few and
large (one 35=X per exchange flush carries every change), so the engine's C++ parse is cheap and the
Python side only takes the message text (``toString``) on the engine thread and queues it.

The session uses ResetOnLogon: market data is a live view, not a ledger, so after a reconnect we
want a fresh subscription and its snapshots, never a replay of stale increments. Each logon sends
MarketDataRequests (35=V, snapshot + updates, at ``depth`` levels: 1 top of book, 10 with market depth)
for every symbol.
"""

from __future__ import annotations

import asyncio
import itertools
import zlib
from collections.abc import Sequence
from pathlib import Path

import quickfix as fix
import quickfix44 as fix44
import structlog

from fixsession.application import SafeApplication
from fixsession.engine import Engine
from fixsession.messages import body_value, session_key, wire_msg_type, wire_text
from fixsession.settings import Endpoint, SessionSpec
from marketdata.ingestor import Ingestor

log = structlog.get_logger(__name__)

ENTRY_TYPES = ("0", "1", "2", "5", "B")
UNKNOWN_SYMBOL = "0"  # MDReqRejReason  # bid, offer, trade, closing price, trade volume
_req_ids = itertools.count(1)


def shard_of(symbol: str, shards: int) -> int:
    """Which of ``shards`` ingestors owns ``symbol`` (stable across processes and runs)."""
    return zlib.crc32(symbol.encode()) % shards


def symbols_for_shard(symbols: Sequence[str], shard: int, shards: int) -> list[str]:
    """The symbols ingestor ``shard`` of ``shards`` subscribes to: the shards partition the universe,
    so several ingestors (each with its own FIX session) write disjoint keys side by side."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not in 0..{shards - 1}")
    return [s for s in symbols if shard_of(s, shards) == shard]


def market_data_request(req_id: str, symbols: Sequence[str], depth: int = 1) -> fix.Message:
    m = fix44.MarketDataRequest()
    m.setField(fix.MDReqID(req_id))
    m.setField(fix.SubscriptionRequestType("1"))  # snapshot + updates
    m.setField(fix.MarketDepth(depth))
    m.setField(fix.MDUpdateType(1))  # incremental refresh
    for entry_type in ENTRY_TYPES:
        group = fix44.MarketDataRequest.NoMDEntryTypes()
        group.setField(fix.MDEntryType(entry_type))
        m.addGroup(group)
    for symbol in symbols:
        related = fix44.MarketDataRequest.NoRelatedSym()
        related.setField(fix.Symbol(symbol))
        m.addGroup(related)
    return m


class MarketDataFeed(SafeApplication):
    """Subscribes in chunks of ``chunk`` symbols; the exchange refuses a whole request if one symbol
    is unknown, so a chunk refused for an unknown symbol is retried one symbol per request and only
    the symbols the exchange does not list are left out (and logged)."""

    def __init__(self, ingestor: Ingestor, symbols: Sequence[str], loop: asyncio.AbstractEventLoop,
                 chunk: int = 200, depth: int = 1) -> None:
        super().__init__("marketdata", loop)
        self.depth = depth  # MarketDepth (264) of the subscriptions: 1 top of book, N levels (ADR 023)
        self.ingestor = ingestor
        self.symbols = tuple(symbols)
        self.chunk = chunk
        self.logged_on = asyncio.Event()
        self.unknown_symbols: set[str] = set()
        self._requests: dict[str, tuple[str, ...]] = {}
        self._loop = loop

    def _subscribe(self, session_id: fix.SessionID, symbols: tuple[str, ...]) -> None:
        req_id = f"md-{next(_req_ids)}"
        self._requests[req_id] = symbols
        if not self.send(session_id, market_data_request(req_id, symbols, self.depth)):
            log.warning("marketdata.subscribe_failed", req_id=req_id, symbols=len(symbols))

    def on_logon(self, session_id: fix.SessionID) -> None:
        self._requests.clear()
        for start in range(0, len(self.symbols), self.chunk):
            self._subscribe(session_id, self.symbols[start:start + self.chunk])
        log.info("marketdata.subscribed", session=session_key(session_id), symbols=len(self.symbols),
                 requests=len(self._requests))
        self._loop.call_soon_threadsafe(self.logged_on.set)

    def on_logout(self, session_id: fix.SessionID) -> None:
        log.warning("marketdata.session_down", session=session_key(session_id))
        self._loop.call_soon_threadsafe(self.logged_on.clear)

    def on_app_in(self, message: fix.Message, session_id: fix.SessionID, key: str | None = None,
                  text: str | None = None) -> None:
        # Engine thread: take the text and go; decoding happens on the loop (marketdata.fix_md). The text the
        # message log read is used when given: no call into the binding for the common case.
        raw = text if text is not None else wire_text(message)
        if wire_msg_type(raw) == "Y":
            self._rejected(session_id, body_value(message, 262) or "", body_value(message, 281) or "",
                           body_value(message, 58) or "")
            return
        self.ingestor.submit(raw)

    def _rejected(self, session_id: fix.SessionID, req_id: str, reason: str, text: str) -> None:
        symbols = self._requests.pop(req_id, ())
        if reason == UNKNOWN_SYMBOL and len(symbols) > 1:
            for symbol in symbols:
                self._subscribe(session_id, (symbol,))
            return
        if reason == UNKNOWN_SYMBOL:
            self.unknown_symbols.update(symbols)
            log.warning("marketdata.unknown_symbol", symbols=list(symbols), text=text)
        else:
            log.error("marketdata.request_rejected", req_id=req_id, reason=reason, text=text)


def feed_engine(
    feed: MarketDataFeed, data_dir: Path, host: str, port: int, sender: str, target: str, heartbeat: int = 30
) -> Engine:
    endpoint = Endpoint(name="marketdata", role="initiator", data_dir=data_dir, host=host, port=port,
                        heartbeat_seconds=heartbeat, reset_on_logon=True, reconnect_seconds=2, file_log=False)
    return Engine(endpoint, [SessionSpec(sender, target)], feed)
