"""Audit trail benchmarks: outbox → ClickHouse throughput, shipping lag under steady load, report time.

1. throughput: ``--events`` order events already in the PostgreSQL outbox, drained by the shipper into chdb
   (fetch, pseudonymise, chain, insert, record the position); events/s end to end (target >= 100,000/s);
2. lag: a producer appends ``--rate`` events/s for ``--seconds`` while the shipper runs (same process, as
   the gateway and shipper would share a core); p50/p99/max of outbox commit → ClickHouse insert (target
   p99 <= 250 ms);
3. reports: ``--report-events`` synthetic events (orders accepted, acknowledged, filled; 20,000 accounts
   trading 5 of 500 symbols each, one year, one sale in ten at a loss) generated inside ClickHouse, then the
   wash-sales and best-execution reports over the whole year, rows fetched into Python as the CLI does
   (target <= 2 s each).

    .venv/bin/python bench/audit.py [--events 300000] [--batch 50000] [--rate 10000] [--seconds 15]
                                    [--report-events 10000000] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit.chdb_sink import ChdbSink
from audit.outbox import OutboxRow, backlog
from audit.reports import ReportRequest, report_sql
from audit.retention import RetentionPolicy
from audit.shipper import Shipper, ShipperConfig
from brokerage.services import LocalPostgres, free_port
from ledger import migrate

SYMBOLS = [f"S{i:03d}" for i in range(500)]


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of ``pid`` from /proc (all its threads; ``children``: plus its reaped children's)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    used = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return used / TICK


class CpuMeter:
    """CPU seconds used by this process (shipper + chdb threads) and by the PostgreSQL server (postmaster, its
    live backends, and the backends it has already reaped)."""

    def __init__(self, pgdata: Path | None) -> None:
        self.postmaster = int((pgdata / "postmaster.pid").read_text().split()[0]) if pgdata else None

    def _postgres(self) -> float:
        if self.postmaster is None:
            return 0.0
        total = cpu_seconds(self.postmaster, children=True)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                if ppid == self.postmaster:
                    total += cpu_seconds(int(entry.name))
        return total

    def sample(self) -> tuple[float, float]:
        return cpu_seconds(os.getpid()), self._postgres()

    @staticmethod
    def per_event(before: tuple[float, float], after: tuple[float, float], events: int) -> str:
        own, pg = ((a - b) / max(events, 1) * 1e6 for a, b in zip(after, before, strict=True))
        return f"CPU/event: shipper {own:.1f} µs + PostgreSQL {pg:.1f} µs = {own + pg:.1f} µs"


def load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def outbox_records(n: int, rnd: random.Random, now: datetime | None = None) -> list[tuple[object, ...]]:
    """``n`` realistic outbox rows (accepted orders and fills with quotes and hop timestamps)."""
    records: list[tuple[object, ...]] = []
    for _ in range(n):
        at = now or datetime.now(UTC)
        px = f"{rnd.uniform(10, 500):.2f}"
        fill = rnd.random() < 0.5
        payload = {
            "actor": "fix:CLIENT1", "symbol": rnd.choice(SYMBOLS), "side": rnd.choice(("buy", "sell")),
            "ord_type": "limit", "cl_ord_id": uuid.uuid4().hex[:16], "order_id": uuid.uuid4().hex[:16],
            "qty": str(rnd.randint(1, 50) * 10), "price": px,
            "quote": {"bid": px, "ask": px, "last": px},
            "ts": {"received": at.isoformat(), "risk_checked": at.isoformat(), "committed": at.isoformat()},
        }
        if fill:
            payload.update(exec_id=uuid.uuid4().hex[:16], last_qty="10", last_px=px, status="partially_filled")
        records.append((uuid.uuid4(), "order.fill" if fill else "order.accepted", at,
                        f"ACC{rnd.randrange(1000):04d}", orjson.dumps(payload).decode()))
    return records


async def copy(pool: asyncpg.Pool, records: list[tuple[object, ...]]) -> None:
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "outbox", records=records, columns=["event_id", "event_type", "occurred_at", "account_id", "payload"]
        )


async def throughput(pool: asyncpg.Pool, sink: ChdbSink, events: int, batch: int, cpu: CpuMeter) -> None:
    rnd = random.Random(1)
    for start in range(0, events, 50_000):
        await copy(pool, outbox_records(min(50_000, events - start), rnd))
    shipper = Shipper(pool, sink, ShipperConfig(batch_size=batch))
    await shipper.ship_once()  # warm up: pseudonym keys for the 1,000 accounts, engine caches
    await pool.execute("VACUUM ANALYZE outbox")  # the producers' share (their inserts' autovacuum) stays out
    before = cpu.sample()
    started = time.perf_counter()
    shipped = 0
    while n := await shipper.ship_burst():
        shipped += n
    elapsed = time.perf_counter() - started
    after = cpu.sample()
    await pool.execute("VACUUM outbox")  # dead row versions the shipping left (per-row marks before ADR 039) count too
    vacuum = (cpu.sample()[1] - after[1]) / shipped * 1e6
    print(f"throughput: {shipped:,} events outbox → ClickHouse in {elapsed:.2f} s = {shipped / elapsed:,.0f} events/s "
          f"(batch {batch:,}; target ≥ 100,000/s); {cpu.per_event(before, after, shipped)} "
          f"(+ {vacuum:.1f} µs VACUUM afterwards); {load()}")


async def lag(pool: asyncpg.Pool, sink: ChdbSink, rate: int, seconds: float, batch: int, cpu: CpuMeter) -> None:
    lags: list[float] = []

    def on_shipped(rows: list[OutboxRow], shipped_at: datetime) -> None:
        lags.extend((shipped_at - r.occurred_at).total_seconds() for r in rows)

    shipper = Shipper(pool, sink, ShipperConfig(batch_size=batch), on_shipped=on_shipped)
    stop = asyncio.Event()
    task = asyncio.create_task(shipper.run(stop))
    rnd = random.Random(2)
    before = cpu.sample()
    tick = 0.02
    produced = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int(elapsed * rate) - produced
        if due > 0:
            await copy(pool, outbox_records(due, rnd))
            produced += due
        await asyncio.sleep(tick)
    while (await backlog(pool)).pending:  # noqa: ASYNC110 (polling the database, not an in-process event)
        await asyncio.sleep(0.05)
    stop.set()
    await task
    print(f"lag at {produced / seconds:,.0f} events/s for {seconds:.0f} s ({len(lags):,} events): "
          f"p50 {percentile(lags, 50) * 1000:.0f} ms, p99 {percentile(lags, 99) * 1000:.0f} ms, "
          f"max {max(lags) * 1000:.0f} ms (target p99 ≤ 250 ms); "
          f"{cpu.per_event(before, cpu.sample(), len(lags))} (producer included); {load()}")


def generate_report_data(sink: ChdbSink, events: int) -> None:
    """``events`` events in thirds: accepted, acknowledged, fill of one order each, spread over 2026."""
    sink._run(f"""
        INSERT INTO audit_events (event_id, seq, event_type, occurred_at, account, payload, stream, stream_seq,
                                  prev_hash, hash)
        SELECT generateUUIDv4(number), number, type, at, account, payload, account, number, '', ''
        FROM (
            SELECT number, intDiv(number, 3) AS o, number % 3 AS kind,
                   ['order.accepted', 'order.acknowledged', 'order.fill'][kind + 1] AS type,
                   concat('A', toString(cityHash64(o, 1) % 20000)) AS account,
                   -- each account trades a handful of the 500 symbols, as real accounts do
                   concat('S', leftPad(toString(cityHash64(account, cityHash64(o, 2) % 5) % 500), 3, '0')) AS symbol,
                   if(cityHash64(o, 3) % 100 < 55, 'buy', 'sell') AS side,
                   toDateTime64('2026-01-01 00:00:00', 6, 'UTC')
                       + toIntervalMicrosecond(cityHash64(o, 4) % (365 * 86400000000)) AS received,
                   received + toIntervalMicrosecond([150, 2500, 2500 + cityHash64(o, 5) % 500000][kind + 1]) AS at,
                   round(10 + (cityHash64(symbol) % 49000) / 100, 2) AS mid,
                   (1 + cityHash64(o, 6) % 50) * 10 AS qty,
                   round(mid + ((cityHash64(o, 7) % 21) - 10) / 100, 2) AS px,
                   -- sortable like the gateway's ids (gateway.oms.store.new_id: prefix + time), so each inserted
                   -- block holds its own range of ids, as the shipper's time-ordered batches do (ADR 043)
                   concat('O', leftPad(toString(o), 10, '0')) AS order_id,
                   multiIf(
                     kind = 0, concat('{{"symbol":"', symbol, '","side":"', side, '","ord_type":"limit","qty":"',
                       toString(qty), '","price":"', toString(px), '","order_id":"', order_id, '","quote":{{"bid":"',
                       toString(mid - 0.05), '","ask":"', toString(mid + 0.05), '"}},"ts":{{"received":"',
                       toString(received), '"}}}}'),
                     kind = 1, concat('{{"symbol":"', symbol, '","order_id":"', order_id, '","ts":{{"routed":"',
                       toString(received + toIntervalMicrosecond(900)), '","acknowledged":"', toString(at), '"}}}}'),
                     concat('{{"symbol":"', symbol, '","side":"', side, '","order_id":"', order_id, '","last_qty":"',
                       toString(qty), '","last_px":"', toString(px), '","status":"filled","realized_pnl":"',
                       if(side = 'sell', toString(toInt64(cityHash64(o, 8) % 1001) - 100), ''),  -- 1 in 10 a loss
                       '","ts":{{"filled":"', toString(at), '"}}}}')) AS payload
            FROM numbers({int(events)})
        )""")


def reports(sink: ChdbSink, events: int) -> None:
    started = time.perf_counter()
    generate_report_data(sink, events)
    print(f"reports: generated {events:,} events in ClickHouse in {time.perf_counter() - started:.1f} s")
    for name in ("wash-sales", "best-execution"):
        params = ReportRequest.parse(name, "2026-01-01", "2027-01-01").params("")
        timings = []
        rows = 0
        cpu = []
        for _ in range(3):
            started, used = time.perf_counter(), cpu_seconds(os.getpid())
            rows = len(sink.query(report_sql(name), params).rows)
            timings.append(time.perf_counter() - started)
            cpu.append(cpu_seconds(os.getpid()) - used)
        started = time.perf_counter()
        sink._run(report_sql(name), params, "Null")  # the engine's share: every row computed, none fetched
        engine = time.perf_counter() - started
        print(f"report {name} over {events:,} events: median {sorted(timings)[1]:.2f} s of "
              f"{', '.join(f'{t:.2f}' for t in timings)} s ({rows:,} rows; CPU {sorted(cpu)[1]:.2f} s = "
              f"{sorted(cpu)[1] / events * 1e9:.0f} ns/event; in the engine alone {engine:.2f} s; target ≤ 2 s); "
              f"{load()}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--report-events", type=int, default=10_000_000)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a throwaway local server)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["throughput", "lag", "reports"])
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="brokerage-bench-audit-"))
    os.chmod(base, 0o755)  # the unprivileged PostgreSQL user must reach its data directory
    server = None if args.database_url else LocalPostgres(base, free_port())
    try:
        if server is not None:
            server.start()
        url = args.database_url or (server.url if server else "")
        await asyncio.to_thread(migrate.upgrade, url)
        pool = await asyncpg.create_pool(url, min_size=2, max_size=4)
        sink = ChdbSink(base / "audit" / "chdb", "bench")
        sink.ensure_schema(RetentionPolicy())
        cpu = CpuMeter(server.pgdata if server else None)
        if "throughput" not in args.skip:
            await throughput(pool, sink, args.events, args.batch, cpu)
        if "lag" not in args.skip:
            await lag(pool, sink, args.rate, args.seconds, args.batch, cpu)
        await pool.close()
        if "reports" not in args.skip:
            report_sink = ChdbSink(base / "audit" / "chdb", "bench_reports")
            report_sink.ensure_schema(RetentionPolicy())
            reports(report_sink, args.report_events)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
