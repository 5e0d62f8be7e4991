"""The shipper: drains the PostgreSQL outbox into ClickHouse, exactly once, in batches by size and time.

Exactly once, crash included:
1. read the oldest unshipped outbox rows (up to ``batch_size``);
2. pseudonymise accounts, link each row into its hash chain, insert the batch into ClickHouse;
3. mark the rows shipped in PostgreSQL.
A crash between 2 and 3 leaves rows inserted but unmarked. So after a start or any failed insert the
shipper RECOVERS before shipping: it reloads the chain heads from ClickHouse and the ids of events already
there with seq >= the oldest unshipped seq; those rows are marked without being inserted again. The table
is also a ReplacingMergeTree on the event id and reports read FINAL, as a second line of defence.
When ClickHouse is down the insert fails, the outbox keeps growing and the shipper retries with backoff;
the lag is exported as ``brokerage_audit_outbox_lag_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from audit import metrics
from audit.chain import Head, link
from audit.outbox import OutboxRow, backlog, fetch_unshipped, mark_shipped, purge_shipped
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
        self._in_sink: set[str] = set()  # found in ClickHouse by the last recovery, not yet marked
        self._unmarked: set[int] = set()  # seqs inserted but not yet marked shipped

    async def _recover(self, first_seq: int) -> None:
        self._heads = await asyncio.to_thread(chain_heads, self.sink)
        self._in_sink = await asyncio.to_thread(event_ids_since, self.sink, first_seq)
        if self._in_sink:
            log.info("audit.recovered", already_in_clickhouse=len(self._in_sink), streams=len(self._heads))

    def _rows(self, fresh: list[OutboxRow], names: dict[str, str]) -> list[dict[str, Any]]:
        """``audit.rows.ship_row`` of each row, inlined: the fetch already scrubbed the payloads and formatted
        the times, so this is only the dict per row (the hottest loop of the shipper)."""
        rows = []
        for r in fresh:
            account = names.get(r.account_id, "") if r.account_id else ""
            rows.append({"event_id": r.event_id, "event_type": r.event_type, "occurred_at": r.occurred_text,
                         "account": account, "payload": r.payload, "stream": account or GLOBAL_STREAM, "seq": r.seq})
        return rows

    async def _mark(self, seqs: list[int]) -> None:
        await mark_shipped(self.pool, seqs)
        self._unmarked.difference_update(seqs)

    async def ship_once(self) -> int:
        """Ship one batch; returns how many outbox rows it settled (0: nothing to do)."""
        return await self.ship_burst(max_batches=1)

    async def ship_burst(self, max_batches: int = 20) -> int:
        """Ship up to ``max_batches`` batches back to back; returns how many outbox rows were settled.

        While batch N is inserted into ClickHouse (in a thread), batch N+1 is read (rows after N's last seq)
        and batch N-1 is marked, so PostgreSQL and ClickHouse work at the same time. Rows committed late with
        a lower seq are picked up by the next burst, which starts from the oldest unshipped row again.
        """
        if self._unmarked:
            await self._mark(sorted(self._unmarked))
        with _no_cycle_collection():
            return await self._burst(max_batches)

    async def _burst(self, max_batches: int) -> int:
        size = self.config.batch_size
        batch = await fetch_unshipped(self.pool, size)
        if not batch:
            return 0
        if self._heads is None:
            await self._recover(batch[0].seq)
        settled = 0
        marking: asyncio.Task[None] | None = None
        try:
            for burst in range(max_batches):
                started = time.perf_counter()
                assert self._heads is not None
                fresh = [r for r in batch if r.event_id not in self._in_sink]
                names = await self.pseudonyms.resolve(r.account_id for r in fresh if r.account_id)
                rows = self._rows(fresh, names)
                heads = link(rows, self._heads)  # the outbox position (seq) is not part of the hashed content
                more = len(batch) == size and burst + 1 < max_batches
                prefetch = asyncio.create_task(fetch_unshipped(self.pool, size, after=batch[-1].seq)) if more else None
                try:
                    await asyncio.to_thread(self.sink.insert, rows)
                except BaseException:
                    self._heads = None  # the insert may or may not have landed: recover before retrying
                    if prefetch is not None:
                        prefetch.cancel()
                    raise
                self._heads = heads
                shipped_at = datetime.now(UTC)
                seqs = [r.seq for r in batch]
                self._unmarked.update(seqs)
                self._in_sink.difference_update(r.event_id for r in batch)
                if marking is not None:
                    await marking
                marking = asyncio.create_task(self._mark(seqs))
                self._observe(fresh, len(batch) - len(fresh), shipped_at, started)
                settled += len(batch)
                batch = await prefetch if prefetch is not None else []
                if not batch:
                    break
        finally:
            if marking is not None:
                await marking  # a failed mark leaves its seqs in _unmarked: marked first next time
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
