"""The shipper: drains the PostgreSQL outbox into ClickHouse, exactly once, in batches by size and time.

Exactly once, crash included:
1. read the next settled outbox rows after the shipped position, in ``(txid, seq)`` order (up to
   ``batch_size``; ``audit.outbox.fetch_unshipped`` says why no row committed late can be skipped);
2. pseudonymise accounts, link each row into its hash chain, insert the batch into ClickHouse;
3. record the batch's last position in ``audit.outbox_shipped`` (one row per batch, ADR 039).
A crash between 2 and 3 leaves rows inserted but not recorded. So after a start or any failed insert the
shipper RECOVERS before shipping: it reloads the chain heads from ClickHouse and the ids of events already
there with seq >= the lowest seq still to ship; those rows are passed over without being inserted again. The table
is also a ReplacingMergeTree on the event id and reports read FINAL, as a second line of defence.
When ClickHouse is down the insert fails, the outbox keeps growing and the shipper retries with backoff;
the lag is exported as ``brokerage_audit_outbox_lag_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import asyncpg
import structlog

from audit import metrics
from audit.chain import Head, link_columns
from audit.outbox import (
    OutboxRow,
    Position,
    backlog,
    fetch_unshipped,
    lowest_seq_after,
    purge_shipped,
    record_shipped,
    shipped_position,
)
from audit.pseudonyms import PseudonymStore
from audit.rows import GLOBAL_STREAM
from audit.sink import AuditSink, SinkUnavailable, chain_heads, event_ids_since

log = structlog.get_logger("audit.shipper")
RETRYABLE = (SinkUnavailable, asyncpg.PostgresError, OSError, asyncpg.InterfaceError)


@dataclass(frozen=True, slots=True)
class ShipperConfig:
    batch_size: int = 50_000  # chdb spends ~half the CPU per event on 10,000-row inserts (docs/perf/audit.md)
    flush_interval: float = 0.1  # seconds between polls when the outbox has less than a batch
    max_backoff: float = 5.0
    purge_after_hours: float = 24.0


class _Prepared(NamedTuple):
    """A fetched batch ready to insert: the rows not yet in ClickHouse as columns, and the heads after it."""

    batch: list[OutboxRow]
    fresh: list[OutboxRow]
    columns: dict[str, Sequence[Any]]
    heads: dict[str, Head]


class Shipper:
    def __init__(
        self,
        pool: asyncpg.Pool,
        sink: AuditSink,
        config: ShipperConfig | None = None,
        on_shipped: Callable[[list[OutboxRow], datetime], None] | None = None,
    ) -> None:
        self.pool = pool
        self.sink = sink
        self.config = config or ShipperConfig()
        self.pseudonyms = PseudonymStore(pool)
        self._on_shipped = on_shipped
        self._heads: dict[str, Head] | None = None  # None: recover from ClickHouse before the next insert
        self._in_sink: set[str] = set()  # found in ClickHouse by the last recovery, not yet passed
        self._shipped: Position | None = None  # end of the last inserted batch (None: read the recorded one)
        self._unrecorded: Position | None = None  # inserted into ClickHouse, not yet recorded in PostgreSQL

    async def _recover(self, after: Position) -> None:
        self._heads = await asyncio.to_thread(chain_heads, self.sink)
        first_seq = await lowest_seq_after(self.pool, after)
        self._in_sink = set() if first_seq is None else await asyncio.to_thread(event_ids_since, self.sink, first_seq)
        if self._in_sink:
            log.info("audit.recovered", already_in_clickhouse=len(self._in_sink), streams=len(self._heads))

    @staticmethod
    def _columns(
        fresh: list[OutboxRow], names: dict[str, str], heads: dict[str, Head]
    ) -> tuple[dict[str, Sequence[Any]], dict[str, Head]]:
        """The batch as insert columns, linked into the chains, and the heads after it.

        Columns straight from the fetched tuples (one ``zip(*rows)`` in C): the rows the chain hashes are
        never built as dicts (the shipper's hottest loop; ``audit.rows.ship_row`` says what each one holds).
        """
        seqs, event_ids, event_types, _, account_ids, payloads, occurred, _ = zip(*fresh, strict=True)
        if "" in occurred:  # rows not from fetch_unshipped: format the time here
            occurred = tuple(r.occurred_text for r in fresh)
        accounts = [names.get(a, "") if a else "" for a in account_ids]
        streams = [a or GLOBAL_STREAM for a in accounts]
        # the outbox position (seq) is not part of the hashed content
        stream_seqs, prev_hashes, hashes, after = link_columns(
            streams, event_ids, event_types, occurred, accounts, payloads, heads)
        columns = {"event_id": event_ids, "seq": seqs, "event_type": event_types, "occurred_at": occurred,
                   "account": accounts, "payload": payloads, "stream": streams, "stream_seq": stream_seqs,
                   "prev_hash": prev_hashes, "hash": hashes}
        return columns, after

    async def _record(self, upto: Position) -> None:
        await record_shipped(self.pool, upto)
        if self._unrecorded == upto:
            self._unrecorded = None

    async def ship_once(self) -> int:
        """Ship one batch; returns how many outbox rows it settled (0: nothing to do)."""
        return await self.ship_burst(max_batches=1)

    async def ship_burst(self, max_batches: int = 20) -> int:
        """Ship up to ``max_batches`` batches back to back; returns how many outbox rows were settled.

        While batch N is inserted into ClickHouse (in a thread), batch N+1 is read (rows after N's last
        position) and built (pseudonyms, chain, columns) and batch N-1's end is recorded, so PostgreSQL,
        Python and ClickHouse work at the same time.
        """
        if self._unrecorded is not None:
            await self._record(self._unrecorded)
        with _no_cycle_collection():
            return await self._burst(max_batches)

    async def _prepare(self, batch: list[OutboxRow], heads: dict[str, Head]) -> _Prepared:
        fresh = [r for r in batch if r.event_id not in self._in_sink] if self._in_sink else batch
        names = await self.pseudonyms.resolve(r.account_id for r in fresh if r.account_id)
        columns, after = self._columns(fresh, names, heads) if fresh else ({}, heads)
        return _Prepared(batch, fresh, columns, after)

    async def _burst(self, max_batches: int) -> int:
        size = self.config.batch_size
        if self._shipped is None:
            self._shipped = await shipped_position(self.pool)
        batch = await fetch_unshipped(self.pool, size, self._shipped)
        if not batch:
            return 0
        if self._heads is None:
            await self._recover(self._shipped)
        assert self._heads is not None
        current = await self._prepare(batch, self._heads)
        settled = 0
        marking: asyncio.Task[None] | None = None
        try:
            for burst in range(max_batches):
                started = time.perf_counter()
                batch, fresh = current.batch, current.fresh
                end = batch[-1].position
                # a plain executor future (not a task): whatever the insert raises reaches this coroutine as is
                inserting = (asyncio.get_running_loop().run_in_executor(None, self.sink.insert_columns, current.columns)
                             if fresh else None)
                upcoming: _Prepared | None = None
                try:
                    if len(batch) == size and burst + 1 < max_batches:
                        # read and build the next batch while this one is inserted: chained from this one's heads
                        following = await fetch_unshipped(self.pool, size, end)
                        if following:
                            upcoming = await self._prepare(following, current.heads)
                    if inserting is not None:
                        await inserting
                except BaseException:
                    # the insert may or may not have landed: recover before retrying, and not before it is over
                    # (reading the next batch failed meanwhile: the recovery must see this insert's rows)
                    self._heads = None
                    if inserting is not None and not inserting.done():
                        with contextlib.suppress(BaseException):
                            await asyncio.shield(inserting)
                    raise
                self._heads = current.heads
                self._shipped = self._unrecorded = end
                shipped_at = datetime.now(UTC)
                if self._in_sink:
                    self._in_sink.difference_update(r.event_id for r in batch)
                if marking is not None:
                    await marking
                marking = asyncio.create_task(self._record(end))
                self._observe(fresh, len(batch) - len(fresh), shipped_at, started)
                settled += len(batch)
                if upcoming is None:
                    break
                current = upcoming
        finally:
            if marking is not None:
                await marking  # a failed record leaves _unrecorded set: recorded first next time
        return settled

    def _observe(self, fresh: list[OutboxRow], skipped: int, shipped_at: datetime, started: float) -> None:
        metrics.EVENTS_SHIPPED.inc(len(fresh))
        metrics.DUPLICATES_SKIPPED.inc(skipped)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        for r in fresh[:: max(1, len(fresh) // 100)]:  # a sample keeps the histogram cheap
            metrics.SHIP_LAG.observe((shipped_at - r.occurred_at).total_seconds())
        if self._on_shipped is not None:
            self._on_shipped(fresh, shipped_at)

    async def run(self, stop: asyncio.Event) -> None:
        """Ship until ``stop`` is set, surviving ClickHouse and PostgreSQL outages."""
        backoff = 0.1
        watcher = asyncio.create_task(self._watch_backlog(stop))
        try:
            while not stop.is_set():
                metrics.loop_turned()  # h11-observability: /ready of the audit process
                try:
                    settled = await self.ship_burst()
                    backoff = 0.1
                except RETRYABLE as exc:
                    metrics.SHIP_ERRORS.inc()
                    log.warning("audit.ship_failed", error=str(exc)[:300], retry_in=backoff)
                    await _sleep_or_stop(stop, backoff)
                    backoff = min(backoff * 2, self.config.max_backoff)
                    continue
                if settled < self.config.batch_size:
                    await _sleep_or_stop(stop, self.config.flush_interval)
        finally:
            watcher.cancel()

    async def _watch_backlog(self, stop: asyncio.Event) -> None:
        last_purge = 0.0
        while not stop.is_set():
            try:
                state = await backlog(self.pool)
                metrics.OUTBOX_PENDING.set(state.pending)
                metrics.OUTBOX_LAG.set(state.lag_seconds)
                if time.monotonic() - last_purge > 600:
                    last_purge = time.monotonic()
                    await purge_shipped(self.pool, self.config.purge_after_hours)
            except RETRYABLE as exc:
                log.warning("audit.backlog_check_failed", error=str(exc)[:300])
            await _sleep_or_stop(stop, 1.0)


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector while batches are built (plain reference counting still frees them).

    A batch allocates ~15 containers per event and keeps them alive until it is inserted, so the collector
    ran every few hundred events and walked the whole batch each time: a quarter of the shipper's CPU in the
    profile (docs/perf/audit.md). The batches hold no reference cycles; the collector resumes after the burst.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
