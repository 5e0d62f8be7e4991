"""Per-process fan-out of quote updates to WebSocket clients.

One hub per API process listens to the ingestor's pub/sub shard channels (one Redis connection,
whatever the number of clients), keeps the process's subscription map and drops each update into
the conflating outbox of every client subscribed to its symbol; each client's sender task drains
its outbox. Updates for symbols nobody here watches are skipped with one dict lookup.

A client may instead follow a symbol's book at a depth (``"depth": N`` on subscribe, ADR 023): such
symbols sit in a second subscription map, fed from the ``books:`` channels by a second listener that
starts at the first depth subscription, into a second conflating outbox of ready-made ``book`` frames
cut to the client's depth. A symbol is followed one way or the other; both count against the cap.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from marketdata.depth import DepthBook, book_channels, served_depth
from marketdata.depth_redis import BookReader
from marketdata.quotes import CHANNEL_PREFIX, CHANNEL_SHARDS, decode_batch
from marketdata.redis_quotes import QuoteReader
from marketdata.subscriptions import (
    ClientMessageError,
    ConflatingOutbox,
    SubscriptionMap,
    parse_client_message,
    split_known,
)

log = structlog.get_logger(__name__)

MAX_CONTROL_MESSAGES = 64  # replies waiting to be sent; a client that piles up more is dropped


def book_frame(book: DepthBook, depth: int) -> str:
    """The ``book`` message of a client following ``book``'s symbol at ``depth`` levels a side."""
    return f'{{"type":"book","depth":{depth},"book":{book.top(depth).to_json()}}}'


def error_message(code: str, message: str, symbols: list[str] | None = None) -> dict[str, object]:
    body: dict[str, object] = {"type": "error", "code": code, "message": message}
    if symbols is not None:
        body["symbols"] = symbols
    return body


@dataclass
class StreamClient:
    id: int
    outbox: ConflatingOutbox = field(default_factory=ConflatingOutbox)
    books: ConflatingOutbox = field(default_factory=ConflatingOutbox)  # book frames, ready to send
    depths: dict[str, int] = field(default_factory=dict)  # symbol → levels a side, for books followed
    control: collections.deque[dict[str, object]] = field(default_factory=collections.deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False

    def reply(self, message: dict[str, object]) -> None:
        if len(self.control) >= MAX_CONTROL_MESSAGES:
            self.overflowed = True
        else:
            self.control.append(message)
        self.wakeup.set()


class StreamHub:
    def __init__(self, redis: Redis, is_known: Callable[[str], bool], max_symbols: int = 500,  # type: ignore[type-arg,unused-ignore]
                 send_timeout: float = 10.0) -> None:
        self.redis = redis
        self.is_known = is_known
        self.max_symbols = max_symbols
        self.send_timeout = send_timeout
        self.subscriptions = SubscriptionMap()
        self.clients: dict[int, StreamClient] = {}
        self._ids = itertools.count(1)
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self.book_subscriptions = SubscriptionMap()
        self._book_listener: asyncio.Task[None] | None = None
        self._listening_books = asyncio.Event()
        self.updates_dispatched = 0

    # Clients -----------------------------------------------------------------------------------
    def connect(self) -> StreamClient:
        client = StreamClient(next(self._ids))
        self.clients[client.id] = client
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="stream-hub-listener")
        return client

    def disconnect(self, client: StreamClient) -> None:
        self.subscriptions.drop(client.id)
        self.book_subscriptions.drop(client.id)
        self.clients.pop(client.id, None)

    def _symbols_of(self, client: StreamClient) -> list[str]:
        return sorted(self.subscriptions.symbols_of(client.id) + self.book_subscriptions.symbols_of(client.id))

    async def handle(self, client: StreamClient, text: str) -> None:
        """One client message: (un)subscribe, reply, and queue current quotes of new symbols."""
        try:
            request = parse_client_message(text, self.max_symbols)
        except ClientMessageError as exc:
            client.reply(error_message(exc.code, exc.message))
            return
        if request.action == "unsubscribe":
            removed = self.subscriptions.unsubscribe(client.id, request.symbols)
            client.outbox.discard(removed)
            removed += self._unfollow_books(client, request.symbols)
            client.reply({"type": "unsubscribed", "symbols": removed, "subscriptions": self._symbols_of(client)})
            return
        known, unknown = split_known(request.symbols, self.is_known)
        if unknown:
            client.reply(error_message("unknown_symbols", "not listed: " + ", ".join(unknown), unknown))
        if request.depth is not None:
            await self._follow_books(client, known, served_depth(request.depth), bool(unknown))
            return
        self._unfollow_books(client, known)  # back to quotes
        room = self.max_symbols - len(self.book_subscriptions.by_client.get(client.id, ()))
        added, refused = self.subscriptions.subscribe(client.id, known, room)
        if refused:
            client.reply(error_message("too_many_symbols", f"at most {self.max_symbols} symbols per client",
                                       refused))
        if added or not unknown:
            client.reply({"type": "subscribed", "symbols": added, "subscriptions": self._symbols_of(client)})
        if added:
            with contextlib.suppress(TimeoutError):  # so no update published from now on is missed
                await asyncio.wait_for(self._listening.wait(), 5)
            try:
                current = await QuoteReader(self.redis).get_many(added)
            except RedisError as exc:
                log.warning("stream.snapshot_failed", error=str(exc))
                return
            for symbol in added:
                quote = current.get(symbol)
                if quote is not None and symbol not in client.outbox.pending:
                    client.outbox.offer(symbol, quote.to_json())
            client.wakeup.set()

    # Books -------------------------------------------------------------------------------------
    def _unfollow_books(self, client: StreamClient, symbols: tuple[str, ...] | list[str]) -> list[str]:
        removed = self.book_subscriptions.unsubscribe(client.id, symbols)
        client.books.discard(removed)
        for symbol in removed:
            client.depths.pop(symbol, None)
        return removed

    async def _follow_books(self, client: StreamClient, symbols: list[str], depth: int, had_unknown: bool) -> None:
        moved = self.subscriptions.unsubscribe(client.id, symbols)  # from quotes to books
        client.outbox.discard(moved)
        room = self.max_symbols - len(self.subscriptions.by_client.get(client.id, ()))
        added, refused = self.book_subscriptions.subscribe(client.id, symbols, room)
        if refused:
            client.reply(error_message("too_many_symbols", f"at most {self.max_symbols} symbols per client",
                                       refused))
        redepth = [s for s in symbols if s not in added and s not in refused and client.depths.get(s) != depth]
        fresh = added + redepth
        for symbol in fresh:
            client.depths[symbol] = depth
        if fresh or not had_unknown:
            client.reply({"type": "subscribed", "symbols": fresh, "depth": depth,
                          "subscriptions": self._symbols_of(client)})
        if not fresh:
            return
        client.books.discard(redepth)  # frames cut at the old depth
        self._start_books()
        with contextlib.suppress(TimeoutError):  # so no book published from now on is missed
            await asyncio.wait_for(self._listening_books.wait(), 5)
        try:
            current = await BookReader(self.redis).get_many(fresh)
        except (RedisError, ValueError) as exc:
            log.warning("stream.book_snapshot_failed", error=str(exc))
            return
        for symbol in fresh:
            book = current.get(symbol)
            if book is not None and symbol not in client.books.pending and client.depths.get(symbol) == depth:
                client.books.offer(symbol, book_frame(book, depth))
        client.wakeup.set()

    def dispatch_books(self, message: str) -> None:
        """A batch of book records: a frame cut to each follower's depth (one parse per record)."""
        by_symbol = self.book_subscriptions.by_symbol
        clients = self.clients
        for symbol, payload in decode_batch(message):
            holders = by_symbol.get(symbol)
            if not holders:
                continue
            try:
                book = DepthBook.from_json(payload)
            except (ValueError, KeyError, TypeError, ArithmeticError):
                log.warning("stream.malformed_book", payload=payload[:200])
                continue
            frames: dict[int, str] = {}
            for client_id in holders:
                client = clients[client_id]
                depth = client.depths.get(symbol, 0)
                frame = frames.get(depth)
                if frame is None:
                    frame = frames[depth] = book_frame(book, depth)
                client.books.offer(symbol, frame)
                client.wakeup.set()
            self.updates_dispatched += 1

    def _start_books(self) -> None:
        if self._book_listener is None or self._book_listener.done():
            self._book_listener = asyncio.create_task(
                self._listen(book_channels(), self._listening_books, self.dispatch_books), name="stream-hub-books")

    # Updates -----------------------------------------------------------------------------------
    def dispatch(self, message: str) -> None:
        """A batch published by the ingestor: offer each line to the clients of its symbol."""
        by_symbol = self.subscriptions.by_symbol
        clients = self.clients
        for symbol, payload in decode_batch(message):
            holders = by_symbol.get(symbol)
            if not holders:
                continue
            for client_id in holders:
                client = clients[client_id]
                client.outbox.offer(symbol, payload)
                client.wakeup.set()
            self.updates_dispatched += 1

    async def _listen(self, channels: list[str] | None = None, listening: asyncio.Event | None = None,
                      dispatch: Callable[[str], None] | None = None) -> None:
        """Quotes by default; the book listener passes the books' channels, event and handler."""
        channels = channels or [f"{CHANNEL_PREFIX}shard:{i}" for i in range(CHANNEL_SHARDS)]
        listening = listening or self._listening
        dispatch = dispatch or self.dispatch
        while self.clients:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*channels)
                listening.set()
                while self.clients:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        data = message["data"]
                        dispatch(data.decode() if isinstance(data, bytes) else data)
            except (RedisError, OSError) as exc:
                log.warning("stream.listener_reconnecting", error=str(exc))
                await asyncio.sleep(1)
            finally:
                listening.clear()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]

    async def close(self) -> None:
        self.clients.clear()
        for listener in (self._listener, self._book_listener):
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
