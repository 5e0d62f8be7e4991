"""The ingest loop: raw FIX market data text in, pipelined Redis writes and pub/sub batches out.

Messages may be submitted from any thread (the QuickFIX engine thread calls ``submit``); the loop
decodes them in arrival order, applies them to the ``QuoteBook`` and writes the changed symbols in
batches of at most ``batch_max``. While a write is in flight new messages are applied (Redis and this
loop work side by side) and written together in the next batch, so a busy symbol costs one write per
round trip however often it changes (conflation): throughput rises with load instead of latency
growing without bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from dataclasses import dataclass, field
from typing import cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from marketdata import metrics
from marketdata.book import QuoteBook
from marketdata.depth import book_channels, book_key
from marketdata.depth_demand import LIVE_KEY, LIVE_TTL_SECONDS, WANT_CHANNEL, WANTED_KEY, BookDemand, parse_want
from marketdata.depth_redis import BookWriter
from marketdata.fix_md import Increment, MalformedMarketData, RequestReject, Snapshot, decode
from marketdata.fix_md_lean import decode_increment
from marketdata.quotes import now_us
from marketdata.redis_quotes import QuoteWriter, resp

log = structlog.get_logger(__name__)

# Time spent applying messages before the changed quotes are written: short enough that a backlog
# never delays writes for long (latency), long enough that many updates per symbol conflate.
APPLY_BUDGET_SECONDS = 0.002


@dataclass
class IngestStats:
    messages: int = 0
    malformed: int = 0
    rejects: int = 0
    quotes_written: int = 0
    writes: int = 0
    write_errors: int = 0
    idle_seconds: float = 0.0  # waiting for messages with nothing to write (is the feed the limit?)
    latencies_us: collections.deque[int] = field(default_factory=lambda: collections.deque(maxlen=200_000))


class Ingestor:
    def __init__(self, writer: QuoteWriter, batch_max: int = 2000) -> None:
        self.writer = writer
        self.batch_max = batch_max
        self.book = QuoteBook()
        self.stats = IngestStats()
        self.rejects: list[RequestReject] = []
        self._inbox: collections.deque[str] = collections.deque()
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight: asyncio.Task[int | None] | None = None  # the write awaiting Redis's reply
        self._idle = asyncio.Event()
        self._idle.set()
        self._reported = (0, 0)  # entries applied / rejected already counted in the metrics
        self._progress = asyncio.Event()  # set after each write and on going idle (for ``drained``)
        self.books: BookWriter | None = None  # market depth: book:SYMBOL written with the quotes (ADR 023)
        self.demand = BookDemand()  # whose books are written (ADR 033: books on demand)
        self.books_dropped: list[str] = []  # lapsed leases: their book keys are deleted at the next write

    # Any thread --------------------------------------------------------------------------------
    def submit(self, raw: str) -> None:
        """Queue one raw message; never blocks (deque appends are atomic)."""
        self._inbox.append(raw)
        loop = self._loop
        if loop is not None and not self._wakeup.is_set():
            with contextlib.suppress(RuntimeError):  # loop closed: shutting down
                loop.call_soon_threadsafe(self._wakeup.set)

    @property
    def backlog(self) -> int:
        """Messages received but not applied yet."""
        return len(self._inbox)

    def discard_backlog(self) -> int:
        dropped = len(self._inbox)
        self._inbox.clear()
        return dropped

    # Event loop --------------------------------------------------------------------------------
    def apply(self, raw: str) -> None:
        """Decode and apply one message (bad input is counted and logged, never raised)."""
        self.stats.messages += 1
        try:
            message = decode_increment(raw) or decode(raw)  # the lean path, else the general decoder
        except MalformedMarketData as exc:
            self.stats.malformed += 1
            metrics.MALFORMED.inc()
            log.warning("marketdata.malformed", reason=str(exc))
            return
        if isinstance(message, Increment):
            self.book.apply_increment(message)
        elif isinstance(message, Snapshot):
            self.book.apply_snapshot(message)
        elif isinstance(message, RequestReject):
            self.stats.rejects += 1
            self.rejects.append(message)
            log.error("marketdata.request_rejected", req_id=message.req_id, reason=message.reason,
                      text=message.text)

    async def flush(self) -> int:
        """Write every pending quote; returns how many were written (stops at a failed write, the
        quotes stay pending)."""
        written = 0
        while self.book.pending or self._owes_books():
            count = await self._write_batch()
            if count is None:
                break
            written += count
        return written

    def _owes_books(self) -> bool:
        return self.books is not None and bool(self.demand.owed or self.books_dropped)

    async def _write_batch(self) -> int | None:
        """Write one batch of pending quotes (and the books due); the quotes written, None if it failed."""
        ingest_ts = now_us()
        packed = self.writer.pack_pending(self.book, ingest_ts, self.batch_max)
        batch = packed.symbols
        mset_args, arg_count, publishes = [packed.mset_args], 2 * len(batch), packed.publishes
        symbols: list[str] = []
        dropped: list[str] = []
        if self.books is not None:
            # Books on demand (ADR 033): a wanted symbol's book goes in the same MSET as its quote; a new
            # reader's symbols get their full book now, changed or not.
            wanted = self.demand.expiry
            symbols = [symbol for symbol in batch if symbol in wanted] if wanted else []
            if self.demand.owed:
                symbols = list(dict.fromkeys(symbols + self.demand.take_owed(self.book.states)))
            if symbols:
                book_mset, book_publishes = self.books.pack(self.book.states, symbols, ingest_ts)
                mset_args += [b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in book_mset]
                arg_count += len(book_mset)
                publishes = publishes + book_publishes
            dropped, self.books_dropped = self.books_dropped, []
        commands = [b"*%d\r\n$4\r\nMSET\r\n" % (arg_count + 1), *mset_args] if arg_count else []
        replies = (1 if arg_count else 0) + len(publishes) + (1 if dropped else 0)
        commands += publishes
        if dropped:
            commands.append(resp([b"DEL", *(book_key(s).encode() for s in dropped)]))
        if not replies:
            return 0
        try:
            await self.writer.send(b"".join(commands), replies)
        except (RedisError, OSError) as exc:  # Redis away: keep the quotes for the next try
            self.stats.write_errors += 1
            metrics.WRITE_ERRORS.inc()
            for symbol in batch:
                self.book.mark_dirty(symbol)
            if self.books is not None:
                self.demand.want(symbols, 0.0, until=0.0)  # owed again (their leases unchanged)
                self.books_dropped += dropped
            log.warning("marketdata.write_failed", error=str(exc), pending=self.book.pending)
            await asyncio.sleep(0.5)
            return None
        self.stats.writes += 1
        self.stats.quotes_written += len(batch)
        stamps = packed.stamps
        self.stats.latencies_us.extend(map(ingest_ts.__sub__, stamps))
        self._observe(len(batch), ingest_ts - min(stamps) if stamps else None)
        self._progress.set()
        return len(batch)

    def _observe(self, written: int, oldest_lag_us: int | None) -> None:
        applied, rejected = self.book.entries_applied, self.book.entries_rejected
        metrics.UPDATES.inc(applied - self._reported[0])
        metrics.REJECTED.inc(rejected - self._reported[1])
        self._reported = (applied, rejected)
        metrics.QUOTES.inc(written)
        if written:
            metrics.quote_written()
        metrics.BACKLOG.set(len(self._inbox))
        if oldest_lag_us is not None:
            metrics.BATCH_LAG.observe(oldest_lag_us / 1_000_000)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        watcher = asyncio.create_task(self._watch_demand(stop)) if self.books is not None else None
        try:
            await self._run(stop)
        finally:
            if self._in_flight is not None and not self._in_flight.done():
                self._in_flight.cancel()  # cancelled mid-write: its connection is dropped, not reused
            self._in_flight = None
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    def want_books(self, symbols: list[str], until: float | None = None) -> None:
        """Readers asked for these books (loop thread): written from the next write on (ADR 033)."""
        self.demand.want(symbols, time.time(), until)
        if self.demand.owed and not self._wakeup.is_set():
            self._wakeup.set()

    async def _watch_demand(self, stop: asyncio.Event) -> None:
        """Books on demand: hear readers on ``books:want``, load the leases already in ``books:wanted``
        (after a start or reconnect), and once a second drop lapsed leases (nobody listening to the
        book channels), trim the set and tell readers books are being written (``books:live``)."""
        assert self.books is not None
        redis = self.books.redis
        while not stop.is_set():
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(WANT_CHANNEL)
                now = time.time()
                leases = cast(list[tuple[str | bytes, float]],
                              await redis.zrangebyscore(WANTED_KEY, int(now * 1000), "+inf", withscores=True))
                for member, until_ms in leases:
                    self.want_books(parse_want(member), until_ms / 1000)
                next_tick = 0.0
                while not stop.is_set():
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self.want_books(parse_want(message["data"]))
                    if time.monotonic() >= next_tick:
                        next_tick = time.monotonic() + 1.0
                        await self._tick_demand(redis)
            except (RedisError, OSError) as exc:
                log.warning("marketdata.demand_reconnecting", error=str(exc))
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]

    async def _tick_demand(self, redis: Redis) -> None:  # type: ignore[type-arg,unused-ignore]
        assert self.books is not None
        now = time.time()
        async with redis.pipeline(transaction=False) as pipe:
            pipe.pubsub_numsub(*book_channels())
            pipe.set(LIVE_KEY, self.books.depth, ex=LIVE_TTL_SECONDS)
            pipe.zremrangebyscore(WANTED_KEY, "-inf", int(now * 1000))
            counts, _, _ = await pipe.execute()
        listeners = sum(int(n) for _, n in counts)
        states = self.book.states
        dropped = [s for s in self.demand.expire(now, listeners > 0) if s in states]
        if dropped:
            self.books_dropped += dropped
            self._wakeup.set()

    async def _run(self, stop: asyncio.Event) -> None:
        inbox = self._inbox
        last_log, last_written = time.monotonic(), 0
        while not stop.is_set():
            if not inbox and not self.book.pending and self._in_flight is None and not self._owes_books():
                self._idle.set()
                self._progress.set()
                self._wakeup.clear()
                if inbox:  # raced with a submit between the check and the clear
                    continue
                waiter = asyncio.ensure_future(self._wakeup.wait())
                stopper = asyncio.ensure_future(stop.wait())
                idle_from = time.perf_counter()
                await asyncio.wait({waiter, stopper}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
                self.stats.idle_seconds += time.perf_counter() - idle_from
                waiter.cancel()
                stopper.cancel()
                continue
            self._idle.clear()
            if inbox and self.book.pending < self.batch_max:
                budget_end = time.perf_counter() + APPLY_BUDGET_SECONDS
                while inbox:
                    self.apply(inbox.popleft())
                    if time.perf_counter() >= budget_end:
                        break
            await self._write_in_background()
            now = time.monotonic()
            if now - last_log >= 10:
                rate = (self.stats.quotes_written - last_written) / (now - last_log)
                log.info("marketdata.progress", quotes_per_s=round(rate), symbols=len(self.book.states),
                         messages=self.stats.messages, malformed=self.stats.malformed, backlog=len(inbox))
                last_log, last_written = now, self.stats.quotes_written
        await self._write_in_background()
        await self.flush()

    async def _write_in_background(self) -> None:
        """Wait for the write in flight, then send the next batch and return without its reply.

        Redis (another process, another core) works on batch k while this loop applies the messages
        for batch k+1. Writes stay in order (batch k's reply is awaited before batch k+1 is sent), and
        a failed batch's symbols are marked dirty again, so a later batch carries their latest state.
        """
        if self._in_flight is not None:
            await self._in_flight
            self._in_flight = None
        if self.book.pending or self._owes_books():
            self._in_flight = asyncio.ensure_future(self._write_batch())
            await asyncio.sleep(0)  # the task drains, encodes and sends now, then waits for the reply

    async def drained(self) -> None:
        """Wait until everything submitted so far is written (tests, benchmarks)."""
        while self._inbox or self.book.pending or not self._idle.is_set():
            self._progress.clear()
            await self._progress.wait()
