"""Per-process fan-out of quote updates to WebSocket clients.

One hub per API process listens to the ingestor's pub/sub shard channels (one Redis connection,
whatever the number of clients), keeps the process's subscription map and drops each update into
the conflating outbox of every client subscribed to its symbol; each client's sender task drains
its outbox. Updates for symbols nobody here watches are skipped with one dict lookup.
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


def error_message(code: str, message: str, symbols: list[str] | None = None) -> dict[str, object]:
    body: dict[str, object] = {"type": "error", "code": code, "message": message}
    if symbols is not None:
        body["symbols"] = symbols
    return body


@dataclass
class StreamClient:
    id: int
    outbox: ConflatingOutbox = field(default_factory=ConflatingOutbox)
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
        self.clients.pop(client.id, None)

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
            client.reply({"type": "unsubscribed", "symbols": removed,
                          "subscriptions": self.subscriptions.symbols_of(client.id)})
            return
        known, unknown = split_known(request.symbols, self.is_known)
        if unknown:
            client.reply(error_message("unknown_symbols", "not listed: " + ", ".join(unknown), unknown))
        added, refused = self.subscriptions.subscribe(client.id, known, self.max_symbols)
        if refused:
            client.reply(error_message("too_many_symbols", f"at most {self.max_symbols} symbols per client",
                                       refused))
        if added or not unknown:
            client.reply({"type": "subscribed", "symbols": added,
                          "subscriptions": self.subscriptions.symbols_of(client.id)})
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

    async def _listen(self) -> None:
        channels = [f"{CHANNEL_PREFIX}shard:{i}" for i in range(CHANNEL_SHARDS)]
        while self.clients:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*channels)
                self._listening.set()
                while self.clients:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        data = message["data"]
                        self.dispatch(data.decode() if isinstance(data, bytes) else data)
            except (RedisError, OSError) as exc:
                log.warning("stream.listener_reconnecting", error=str(exc))
                await asyncio.sleep(1)
            finally:
                self._listening.clear()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        self.clients.clear()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
