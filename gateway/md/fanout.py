"""Per-process fan-out of quotes to the gateway's FIX clients (the 35=V handler).

Mirrors the WebSocket hub (``marketdata.stream_hub``): one Redis pub/sub connection per gateway
process listens to the ingestor's shard channels and drops each update of a watched symbol into
the conflating outbox of every session watching it (``SubscriptionBook.offer``, one dict lookup
per line); a flusher drains the dirty sessions at most every ``flush_interval`` seconds, so a burst
of updates of one symbol becomes one 35=X per subscription carrying the latest quote.

A subscription's snapshot (35=W) is read from Redis (one MGET) after the listener is subscribed and
after the subscription is registered, so no update published meanwhile is missed; until the
snapshot is sent, the session's pending updates are held (not drained), and quotes older than what
the client was sent are skipped. QuickFIX sends are thread-safe and never block on the socket.

Depth subscriptions (264 = 0 or 2..10, ADR 023) read the book records (``book:SYMBOL``) and listen to
the ``books:`` shard channels on a second pub/sub connection, opened at the first depth subscription:
a gateway whose clients want only the top of book never receives the (larger) book batches.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from decimal import InvalidOperation
from typing import TYPE_CHECKING

import quickfix as fix
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from fixsession.messages import copy_session_id, session_key
from fixsession.rejects import CONDITIONALLY_REQUIRED_FIELD_MISSING, business_reject
from gateway.md import wire
from gateway.md.entries import book_snapshot_entries, snapshot_entries
from gateway.md.subscriptions import (
    FULL_REFRESH,
    SUBSCRIBE,
    UNSUBSCRIBE,
    Increment,
    MdCaps,
    MdReject,
    Snapshot,
    Subscription,
    SubscriptionBook,
    check_request,
)
from marketdata.depth import DepthBook, book_channels
from marketdata.depth_redis import BookReader
from marketdata.quotes import CHANNEL_PREFIX, CHANNEL_SHARDS, Quote, decode_batch
from marketdata.redis_quotes import QuoteReader
from refdata.instruments import load_universe

if TYPE_CHECKING:
    from brokerage.settings import Settings
    from gateway.fix.acceptor import ClientAcceptorApplication

log = structlog.get_logger(__name__)

Send = Callable[[fix.SessionID, fix.Message], bool]


def logged_on(session_id: fix.SessionID) -> bool:
    session = fix.Session.lookupSession(session_id)
    return session is not None and bool(session.isLoggedOn())


def parse_quote(payload: str) -> Quote | None:
    try:
        return Quote.from_json(payload)
    except (ValueError, KeyError, TypeError, InvalidOperation):
        log.warning("md.malformed_quote", payload=payload[:200])
        return None


def parse_book(payload: str) -> DepthBook | None:
    try:
        return DepthBook.from_json(payload)
    except (ValueError, KeyError, TypeError, InvalidOperation):
        log.warning("md.malformed_book", payload=payload[:200])
        return None


class ClientMarketData:
    def __init__(self, redis: Redis, is_known: Callable[[str], bool], send: Send,  # type: ignore[type-arg,unused-ignore]
                 max_symbols: int = 500, flush_interval: float = 0.05,
                 is_logged_on: Callable[[fix.SessionID], bool] = logged_on, caps: MdCaps | None = None) -> None:
        self.redis = redis
        self.is_known = is_known
        self.send = send
        self.is_logged_on = is_logged_on
        self.max_symbols = max_symbols
        self.caps = caps or MdCaps(max_symbols=max_symbols)
        self.flush_interval = flush_interval
        self.book = SubscriptionBook()
        self._loop = asyncio.get_running_loop()
        self.session_ids: dict[str, fix.SessionID] = {}
        self._dirty: set[str] = set()
        self._wakeup = asyncio.Event()
        self._listening = asyncio.Event()
        self._listening_books = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._book_listener: asyncio.Task[None] | None = None
        self.updates_dispatched = 0
        self.messages_sent = 0

    # The 35=V handler --------------------------------------------------------------------------
    async def on_market_data_request(self, session_id: fix.SessionID, message: fix.Message) -> None:
        key = session_key(session_id)
        try:
            request = wire.decode_request(message)
        except wire.MissingMdReqId as exc:
            self.send(session_id, business_reject(message, CONDITIONALLY_REQUIRED_FIELD_MISSING, str(exc)))
            return
        if isinstance(request, MdReject):
            self._reject(session_id, key, request)
            return
        if not self.is_logged_on(session_id):  # read before a logout, handled after it: moot
            return
        if request.request_type == UNSUBSCRIBE:
            if not self.book.unsubscribe(key, request.req_id):
                self._reject(session_id, key, MdReject(request.req_id, None,
                                                       f"no active subscription with MDReqID {request.req_id}"))
            return
        checked = check_request(request, self.is_known, self.book.sessions.get(key), self.max_symbols,
                                self.caps)
        if isinstance(checked, MdReject):
            self._reject(session_id, key, checked)
            return
        depth = self.caps.depth_of(request.depth)
        if request.request_type != SUBSCRIBE:  # snapshot only: nothing to register
            await self._send_snapshots(session_id, key, request.req_id, request.symbols, checked, None, depth)
            return
        sub = Subscription(request.req_id, request.symbols, checked, request.update_type == FULL_REFRESH,
                           depth=depth)
        self._start(books=sub.by_book)
        self.session_ids[key] = copy_session_id(session_id)
        self.book.subscribe(key, sub)  # watch first: updates from now on wait in the outbox
        state = self.book.session(key)
        state.snapshots_in_flight += 1
        try:
            with contextlib.suppress(TimeoutError):  # so no update published from now on is missed
                await asyncio.wait_for((self._listening_books if sub.by_book else self._listening).wait(), 5)
            await self._send_snapshots(session_id, key, sub.req_id, sub.symbols, sub.types, sub, depth)
        finally:
            state.snapshots_in_flight -= 1
            if key in self._dirty:
                self._wakeup.set()
        log.info("md.subscribed", session=key, req_id=sub.req_id, symbols=len(sub.symbols), depth=depth)

    async def _send_snapshots(self, session_id: fix.SessionID, key: str, req_id: str, symbols: tuple[str, ...],
                              types: frozenset[str], sub: Subscription | None, depth: int = 1) -> None:
        if depth > 1:
            await self._send_book_snapshots(session_id, key, req_id, symbols, types, sub, depth)
            return
        try:
            current = await QuoteReader(self.redis).get_many(list(symbols))
        except (RedisError, OSError, ValueError) as exc:
            self._snapshot_failed(session_id, key, req_id, sub, exc)
            return
        if not self._still_subscribed(key, req_id, sub):
            return  # the session logged out meanwhile
        for symbol in symbols:
            quote = current.get(symbol)
            if sub is not None:
                sub.sent[symbol] = quote
            self._send(session_id, wire.snapshot(req_id, symbol, snapshot_entries(quote, types)))

    async def _send_book_snapshots(self, session_id: fix.SessionID, key: str, req_id: str, symbols: tuple[str, ...],
                                   types: frozenset[str], sub: Subscription | None, depth: int) -> None:
        try:
            current = await BookReader(self.redis).get_many(list(symbols))
        except (RedisError, OSError, ValueError, InvalidOperation) as exc:
            self._snapshot_failed(session_id, key, req_id, sub, exc)
            return
        if not self._still_subscribed(key, req_id, sub):
            return  # the session logged out meanwhile
        for symbol in symbols:
            found = current.get(symbol)
            book = found.top(depth) if found is not None else None
            if sub is not None:
                sub.books[symbol] = book
            self._send(session_id, wire.snapshot(req_id, symbol, book_snapshot_entries(book, types)))

    def _snapshot_failed(self, session_id: fix.SessionID, key: str, req_id: str, sub: Subscription | None,
                         exc: Exception) -> None:
        """Redis could not serve a snapshot: the request is refused (and its subscription dropped)."""
        log.warning("md.snapshot_failed", session=key, req_id=req_id, error=str(exc))
        if sub is not None:
            self.book.unsubscribe(key, req_id)
        self._reject(session_id, key, MdReject(req_id, None, "market data temporarily unavailable"))

    def _still_subscribed(self, key: str, req_id: str, sub: Subscription | None) -> bool:
        """False when ``sub`` ended (logout, unsubscribe) while its snapshot was being read."""
        state = self.book.sessions.get(key)
        return sub is None or (state is not None and state.subscriptions.get(req_id) is sub)

    def _reject(self, session_id: fix.SessionID, key: str, reject: MdReject) -> None:
        log.info("md.request_rejected", session=key, req_id=reject.req_id, reason=reject.reason, text=reject.text)
        self.send(session_id, wire.reject(reject))

    def _send(self, session_id: fix.SessionID, message: fix.Message) -> None:
        if self.send(session_id, message):
            self.messages_sent += 1

    # Sessions ----------------------------------------------------------------------------------
    def on_logout(self, session_id: fix.SessionID) -> None:
        """Engine thread (the acceptor's logout hook): drop the session's subscriptions on the loop,
        after the messages it already handed over."""
        self._loop.call_soon_threadsafe(self.drop_session, session_key(session_id))

    def drop_session(self, key: str) -> None:
        """The session logged out: its subscriptions end (a client subscribes again after logon)."""
        self.book.drop_session(key)
        self.session_ids.pop(key, None)
        self._dirty.discard(key)

    # Updates -----------------------------------------------------------------------------------
    def dispatch(self, message: str) -> None:
        """A batch published by the ingestor: queue each line for the sessions watching its symbol."""
        self._dispatch(message, self.book.offer)

    def dispatch_books(self, message: str) -> None:
        """A batch of book records: queue each line for the sessions watching its symbol at depth."""
        self._dispatch(message, self.book.offer_book)

    def _dispatch(self, message: str, offer: Callable[[str, str], set[str] | None]) -> None:
        dirty = self._dirty
        dispatched = 0
        for symbol, payload in decode_batch(message):
            keys = offer(symbol, payload)
            if keys:
                dirty.update(keys)
                dispatched += 1
        if dispatched:
            self.updates_dispatched += dispatched
            self._wakeup.set()

    async def _resync_books(self) -> None:
        symbols = list(self.book.book_watchers)
        for start in range(0, len(symbols), 1000):
            current = await BookReader(self.redis).get_many(symbols[start:start + 1000])
            for symbol, book in current.items():
                keys = self.book.offer_book(symbol, book.to_json())
                if keys:
                    self._dirty.update(keys)
        self._wakeup.set()

    async def _resync(self) -> None:
        """After the listener reconnects: what was published while it was away, read back from the
        keys (quotes are state: the latest value is all a client needs)."""
        symbols = list(self.book.watchers)
        for start in range(0, len(symbols), 1000):
            chunk = symbols[start:start + 1000]
            current = await QuoteReader(self.redis).get_many(chunk)
            for symbol, quote in current.items():
                keys = self.book.offer(symbol, quote.to_json())
                if keys:
                    self._dirty.update(keys)
        self._wakeup.set()

    def flush(self) -> int:
        """Send what every dirty session is owed; returns how many messages went out."""
        parsed: dict[str, Quote | None] = {}
        books: dict[str, DepthBook | None] = {}

        def parse(payload: str) -> Quote | None:
            if payload not in parsed:
                parsed[payload] = parse_quote(payload)
            return parsed[payload]

        def parse_depth(payload: str) -> DepthBook | None:
            if payload not in books:
                books[payload] = parse_book(payload)
            return books[payload]

        sent = 0
        for key in list(self._dirty):
            state = self.book.sessions.get(key)
            session_id = self.session_ids.get(key)
            if state is None or session_id is None or not self.is_logged_on(session_id):
                self._dirty.discard(key)
                if state is not None:  # logged out and the hook has not run yet
                    self.drop_session(key)
                continue
            if state.snapshots_in_flight:
                continue  # stays dirty: drained once the snapshot is out
            self._dirty.discard(key)
            for item in state.drain(parse, parse_depth):
                if isinstance(item, Increment):
                    message = wire.incremental(item.req_id, item.entries)
                else:
                    assert isinstance(item, Snapshot)
                    message = wire.snapshot(item.req_id, item.symbol, item.entries)
                if self.send(session_id, message):
                    sent += 1
        self.messages_sent += sent
        return sent

    async def _flush_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            try:
                self.flush()
            except Exception:  # one bad update must not stop the feed of every client
                log.exception("md.flush_failed")
            await asyncio.sleep(self.flush_interval)  # the conflation window

    async def _listen(self, channels: list[str] | None = None, listening: asyncio.Event | None = None,
                      dispatch: Callable[[str], None] | None = None,
                      resync: Callable[[], Awaitable[None]] | None = None) -> None:
        """Quotes by default; the book listener passes the books' channels, event and handlers."""
        channels = channels or [f"{CHANNEL_PREFIX}shard:{i}" for i in range(CHANNEL_SHARDS)]
        listening = listening or self._listening
        dispatch = dispatch or self.dispatch
        resync = resync or self._resync
        reconnecting = False
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*channels)
                listening.set()
                if reconnecting:
                    await resync()
                    reconnecting = False
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        data = message["data"]
                        dispatch(data.decode() if isinstance(data, bytes) else data)
            except (RedisError, OSError) as exc:
                log.warning("md.listener_reconnecting", error=str(exc))
                reconnecting = True
                await asyncio.sleep(1)
            finally:
                listening.clear()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]

    def _start(self, books: bool = False) -> None:
        """The listener and flusher run from the first subscription until ``close``; the book listener
        from the first depth subscription."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._listen(), name="md-listener"),
                           asyncio.create_task(self._flush_loop(), name="md-flusher")]
        if books and self._book_listener is None:
            self._book_listener = asyncio.create_task(
                self._listen(book_channels(), self._listening_books, self.dispatch_books, self._resync_books),
                name="md-book-listener")
            self._tasks.append(self._book_listener)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._book_listener = None
        await self.redis.aclose()  # type: ignore[attr-defined,unused-ignore]


def attach(clients: ClientAcceptorApplication, settings: Settings) -> ClientMarketData:
    """Serve market data on the client acceptor: the 35=V handler and the logout hook."""
    listed = frozenset(i.symbol for i in load_universe())
    redis = Redis.from_url(settings.effective_redis_url, decode_responses=True, socket_connect_timeout=1,
                           socket_timeout=5)
    caps = MdCaps(settings.fix_md_max_symbols, settings.fix_md_max_subscriptions,
                  settings.fix_md_max_snapshot_symbols, settings.marketdata_depth_levels)
    service = ClientMarketData(redis, listed.__contains__, clients.send, settings.fix_md_max_symbols,
                               settings.fix_md_flush_seconds, caps=caps)
    clients.handlers["V"] = service.on_market_data_request
    clients.logout_listeners.append(service.on_logout)
    return service
