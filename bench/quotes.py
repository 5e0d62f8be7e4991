"""Market data ingest: updates/s from FIX 35=X into Redis, and ingest latency, at 10k and 100k symbols.

The feed: 35=X incremental refreshes in the exchange's wire form (``exchange.fix_codec.incremental``:
279/269/55/270/271/290 per entry, ``--entries`` entries per message as one exchange flush carries
many symbols), pre-built so that producing them costs nothing at run time. A producer thread stamps
SendingTime (52) with the current time in microseconds and hands each message to
``Ingestor.submit`` at the offered rate, exactly where the QuickFIX engine thread hands them in the
real process; the ingestor decodes, applies, conflates and writes pipelined batches (MSET + sharded
PUBLISH) to a real Redis. Latency is ingest timestamp − exchange timestamp of every written quote.
QuickFIX's own parse of the socket bytes is not in the loop (C++, per message rather than per entry).

    .venv/bin/python bench/quotes.py [--symbols 10000 100000] [--rate 100000 0] [--shards 1 2]
                                     [--runs 3] [--seconds 10] [--entries 100] [--redis-url redis://...]

Each case runs in its own process per shard (``--shards N``: N ingestor processes, symbols split by
``marketdata.fix_feed.shard_of`` as ``brokerage marketdata --shard K/N`` splits them, the offered rate
split evenly), ``--runs`` times; every run is printed and then the median. CPU is read from /proc:
per update applied, for the ingestor's loop thread, the producer thread (in the same process, as the
QuickFIX thread is) and the Redis server. "limit" says who held the rate back: the producer when an
ingestor loop waited for messages (idle >= 5%), else the ingestor when it got most of a core, else the
machine (the ingestor was busy but got little CPU: other work on the box).

``--exchange`` measures the real path instead: the exchange process (the whole universe, at its own
simulated pace) → FIX → QuickFIX initiator → ingestor → Redis.

``--rate 0`` measures capacity: the producer keeps at most 4 messages queued (closed loop).

``--stages`` measures the ingestor's stages alone, without Redis or threads (CPU µs per update, best
of 5 passes over the pre-built messages, 4 messages per write as at ~40k updates/s): decode, apply,
pack (drain + quote JSON + RESP of the MSET and PUBLISHes), and, for comparison, what redis-py's
pipeline packing of the same commands would cost.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from brokerage.services import LocalRedis, free_port
from marketdata.ingestor import Ingestor

REPO = Path(__file__).resolve().parent.parent
SOH = "\x01"
STAMP = "@@SENDINGTIME@@"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[int], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def cpu_seconds(stat_path: str) -> float:
    """utime + stime of a process or thread, from /proc (steadier than wall time on a shared box)."""
    try:
        fields = Path(stat_path).read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def build_messages(symbols: list[str], entries: int, count: int, seed: int) -> list[str]:
    """Messages in the exchange's 35=X layout at depth 1: a new best bid/offer is a Delete of the old
    price and a New of the new one (two entries), a trade is one entry."""
    rnd = random.Random(seed)
    best: dict[tuple[str, str], str] = {}
    out = []
    for seq in range(count):
        group: list[str] = []
        while len(group) < entries:
            symbol = rnd.choice(symbols)
            price = f"{rnd.randint(1000, 60000) / 100:.2f}"
            if rnd.random() < 0.9:
                side = "0" if rnd.random() < 0.5 else "1"
                old = best.get((symbol, side))
                if old is not None and old != price:
                    group.append(f"279=2{SOH}269={side}{SOH}55={symbol}{SOH}270={old}")
                group.append(f"279=0{SOH}269={side}{SOH}55={symbol}{SOH}270={price}{SOH}271={rnd.randint(1, 9)}00"
                             f"{SOH}290=1")
                best[(symbol, side)] = price
            else:
                group.append(f"279=0{SOH}269=2{SOH}55={symbol}{SOH}270={price}{SOH}271={rnd.randint(1, 5)}")
        head = f"35=X{SOH}49=EXCHANGE{SOH}56=MDFEED{SOH}34={seq + 2}{SOH}52={STAMP}{SOH}262=md-1{SOH}268={len(group)}"
        text = SOH.join([head, *group]) + SOH
        out.append(f"8=FIX.4.4{SOH}9={len(text)}{SOH}{text}10=000{SOH}")
    return out


def producer(ingestor: Ingestor, messages: list[str], rate: float, entries: int, stop: threading.Event,
             offered: list[int]) -> None:
    per_second = rate / entries if rate else 0.0
    started = time.perf_counter()
    sent = 0
    while not stop.is_set():
        if per_second:
            due = int((time.perf_counter() - started) * per_second)
            if sent >= due:
                time.sleep(0.001)
                continue
        elif ingestor.backlog >= 4:  # capacity run: keep the ingestor fed, never flooded
            # 1 ms, not less: each wake-up takes the GIL from the ingestor's loop (same process, as the
            # QuickFIX thread is); 4 messages of 100 entries last longer than that at any rate we reach
            time.sleep(0.001)
            continue
        now = datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")
        ingestor.submit(messages[sent % len(messages)].replace(STAMP, now, 1))
        sent += 1
    offered.append(sent * entries)


@dataclass
class ShardResult:
    seconds: float
    applied: int
    written: int
    writes: int
    books: int  # book records written (market depth, ADR 023/033)
    offered: int
    backlog_updates: int
    idle_seconds: float
    ingestor_cpu: float  # the event loop thread: decode, book, encode, Redis I/O
    producer_cpu: float
    latencies_us: list[int]


async def run_shard(redis_url: str, symbols: list[str], rate: float, seconds: float, entries: int, batch: int,
                    seed: int, books: bool, ready: multiprocessing.connection.Connection) -> ShardResult:
    from redis.asyncio import Redis

    from marketdata.depth_redis import BookWriter
    from marketdata.redis_quotes import QuoteWriter

    messages = build_messages(symbols, entries, 2000, seed=seed)
    redis = Redis.from_url(redis_url)
    ingestor = Ingestor(QuoteWriter(redis, publish=True), batch_max=batch)
    if books:  # as `brokerage marketdata` runs by default (BROKERAGE_MARKETDATA_DEPTH_LEVELS=10)
        ingestor.books = BookWriter(redis, publish=True)
    stop_ingest = asyncio.Event()
    task = asyncio.create_task(ingestor.run(stop_ingest))
    await asyncio.sleep(0.05)
    ready.send("ready")
    await asyncio.to_thread(ready.recv)  # go: every shard starts together

    stop_producer = threading.Event()
    offered: list[int] = []
    thread = threading.Thread(target=producer, args=(ingestor, messages, rate, entries, stop_producer, offered))
    loop_stat = f"/proc/self/task/{threading.get_native_id()}/stat"
    loop_cpu0, wall0 = cpu_seconds(loop_stat), time.perf_counter()
    applied0, written0, writes0 = ingestor.book.entries_applied, ingestor.stats.quotes_written, ingestor.stats.writes
    books0 = ingestor.books.books_written if ingestor.books is not None else 0
    idle0 = ingestor.stats.idle_seconds
    thread.start()
    producer_stat = f"/proc/self/task/{thread.native_id}/stat"
    await asyncio.sleep(seconds)
    producer_cpu = cpu_seconds(producer_stat)  # read before the thread ends (its /proc entry goes with it)
    stop_producer.set()
    thread.join()
    result = ShardResult(
        seconds=time.perf_counter() - wall0,
        applied=ingestor.book.entries_applied - applied0,
        written=ingestor.stats.quotes_written - written0,
        writes=ingestor.stats.writes - writes0,
        books=(ingestor.books.books_written if ingestor.books is not None else 0) - books0,
        offered=0,
        backlog_updates=ingestor.backlog * entries,
        idle_seconds=ingestor.stats.idle_seconds - idle0,
        ingestor_cpu=cpu_seconds(loop_stat) - loop_cpu0,
        producer_cpu=producer_cpu,
        latencies_us=list(ingestor.stats.latencies_us),
    )
    result.offered = offered[0]
    ingestor.discard_backlog()  # what the offer left queued beyond capacity is not waited for
    stop_ingest.set()
    await task
    await redis.aclose()  # type: ignore[attr-defined,unused-ignore]
    return result


def shard_process(redis_url: str, symbols: list[str], rate: float, seconds: float, entries: int, batch: int,
                  seed: int, books: bool, conn: multiprocessing.connection.Connection) -> None:
    import logging

    import structlog
    import uvloop

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))  # no progress lines
    conn.send(uvloop.run(run_shard(redis_url, symbols, rate, seconds, entries, batch, seed, books, conn)))


@dataclass
class RunResult:
    applied_per_s: float
    offered_per_s: float
    written_per_s: float
    writes_per_s: float
    books_per_s: float
    backlog_updates: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    ingestor_us: float  # CPU µs per update applied, summed over shards
    producer_us: float
    producer_offered_us: float  # the producer's CPU per update it offered (its own cost, whatever was applied)
    redis_us: float
    ingestor_busy: float  # share of the run the busiest ingestor loop was not waiting for messages
    ingestor_cores: float  # CPU the busiest ingestor loop got (cores): below ~0.8 the machine held it back
    limit: str


def run_case(redis_url: str, redis_pid: int | None, n_symbols: int, rate: float, seconds: float, entries: int,
             batch: int, shards: int, books: bool = True, readers: int = 0) -> RunResult:
    import redis as redis_sync

    from marketdata.fix_feed import shard_of

    client = redis_sync.Redis.from_url(redis_url)
    client.flushdb()
    symbols = [f"S{i:06d}" for i in range(n_symbols)]
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    for k in range(shards):
        mine = [s for s in symbols if shard_of(s, shards) == k] if shards > 1 else symbols
        parent, child = context.Pipe()
        process = context.Process(target=shard_process, args=(
            redis_url, mine, rate / shards, seconds, entries, batch, n_symbols + k, books, child))
        process.start()
        pipes.append(parent)
        processes.append(process)
    for pipe in pipes:
        assert pipe.recv() == "ready"
    if readers:  # depth readers (REST/WebSocket/FIX) want these books before the run starts
        ask_for_books(redis_url, symbols[::max(1, n_symbols // readers)][:readers])
    redis_stat = f"/proc/{redis_pid}/stat" if redis_pid else ""
    redis_cpu0 = cpu_seconds(redis_stat) if redis_pid else float("nan")
    wall0 = time.perf_counter()
    for pipe in pipes:
        pipe.send("go")
    results: list[ShardResult] = [pipe.recv() for pipe in pipes]
    redis_cpu = (cpu_seconds(redis_stat) - redis_cpu0) if redis_pid else float("nan")
    redis_wall = time.perf_counter() - wall0
    for process in processes:
        process.join()
    client.close()

    elapsed = statistics.mean(r.seconds for r in results)
    applied = sum(r.applied for r in results)
    latencies = [lat for r in results for lat in r.latencies_us]
    busy = max(1 - r.idle_seconds / r.seconds for r in results)
    cores = max(r.ingestor_cpu / r.seconds for r in results)
    per_update = 1_000_000 / max(applied, 1)
    return RunResult(
        applied_per_s=applied / elapsed,
        offered_per_s=sum(r.offered for r in results) / elapsed,
        written_per_s=sum(r.written for r in results) / elapsed,
        writes_per_s=sum(r.writes for r in results) / elapsed,
        books_per_s=sum(r.books for r in results) / elapsed,
        backlog_updates=sum(r.backlog_updates for r in results),
        p50_ms=percentile(latencies, 50) / 1000,
        p99_ms=percentile(latencies, 99) / 1000,
        max_ms=max(latencies, default=0) / 1000,
        ingestor_us=sum(r.ingestor_cpu for r in results) * per_update,
        producer_us=sum(r.producer_cpu for r in results) * per_update,
        producer_offered_us=sum(r.producer_cpu for r in results) * 1_000_000 / max(sum(r.offered for r in results), 1),
        redis_us=redis_cpu * per_update * min(1.0, elapsed / redis_wall),
        ingestor_busy=busy,
        ingestor_cores=cores,
        limit=limit_of(busy, cores),
    )


def run_stages(n_symbols: int, entries: int, batch: int) -> None:
    """CPU per update of each stage of the ingestor's loop, in-process and without Redis (see --stages)."""
    from redis.asyncio.connection import Connection

    from marketdata.fix_md_lean import decode_increment
    from marketdata.quotes import channel_for
    from marketdata.redis_quotes import QuoteWriter, resp

    symbols = [f"S{i:06d}" for i in range(n_symbols)]
    now = datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")
    messages = [m.replace(STAMP, now, 1) for m in build_messages(symbols, entries, 2000, seed=n_symbols)]
    ingestor = Ingestor(QuoteWriter(None, publish=True), batch_max=batch)  # type: ignore[arg-type]  # no I/O
    book, writer = ingestor.book, ingestor.writer
    for raw in messages:  # warm: every symbol has a state, as after the first seconds of a run
        ingestor.apply(raw)
    book.take(None) if hasattr(book, "take") else book.drain(1)
    packer = Connection()
    best: dict[str, float] = {}
    for _ in range(5):
        spent = dict.fromkeys(("decode", "apply", "pack", "[JSON item by item", "+ redis-py pipeline packing]"), 0.0)
        updates = quotes = 0
        for start in range(0, len(messages), 4):
            t0 = time.process_time()
            decoded = [decode_increment(raw) for raw in messages[start:start + 4]]
            t1 = time.process_time()
            for message in decoded:
                assert message is not None
                book.apply_increment(message)
                updates += len(message.entries)
            t2 = time.process_time()
            snapshot = {s: None for s in book._dirty}  # the same batch, for the redis-py comparison
            if hasattr(writer, "pack_pending"):
                quotes += len(writer.pack_pending(book, 1, batch).symbols)
            else:  # a tree before ADR 038 (A/B): what its _write_batch did
                drained = book.drain_encoded(1, batch)
                mset, _ = writer.pack([(s, payload) for s, payload, _ in drained])
                resp([b"MSET", *mset])
                quotes += len(drained)
            t3 = time.process_time()
            states = book.states
            pairs = [(s, states[s].quote_json(s, 1)) for s in snapshot]
            t4 = time.process_time()
            lines: dict[str, list[str]] = {}
            args: list[str] = []
            for s, payload in pairs:
                args += (f"quote:{s}", payload)
                lines.setdefault(channel_for(s), []).append(f"{s}\t{payload}")
            packer.pack_commands([("MSET", *args), *(("PUBLISH", c, "\n".join(ls)) for c, ls in lines.items())])
            t5 = time.process_time()
            for name, seconds in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                spent[name] += seconds
        for name, seconds in spent.items():
            best[name] = min(best.get(name, float("inf")), seconds * 1e6 / updates)
    print(f"{n_symbols:>7,} symbols, stages without Redis ({quotes / updates:.2f} quotes written per update): "
          + "  ".join(f"{name} {us:.2f}" for name, us in best.items()) + " CPU us/update (best of 5)")


def limit_of(busy: float, cores: float) -> str:
    """Who held the rate back: an ingestor that waited for messages was fed too slowly (producer); a
    busy one that got most of a core is the limit itself; a busy one that got much less was starved."""
    if busy < 0.95:
        return "producer"
    return "ingestor" if cores >= 0.8 else "CPU share (ingestor busy but starved)"


def print_run(label: str, r: RunResult) -> None:
    print(f"  {label:<7} applied {r.applied_per_s:>9,.0f}/s (offered {r.offered_per_s:>9,.0f}/s, backlog "
          f"{r.backlog_updates:>7,})  written {r.written_per_s:>8,.0f}/s "
          f"({r.written_per_s / max(r.applied_per_s, 1):.2f} per update: the rest conflated; books "
          f"{r.books_per_s:>7,.0f}/s) in "
          f"{r.writes_per_s:>5,.0f} writes/s  "
          f"p50 {r.p50_ms:7.2f} p99 {r.p99_ms:8.2f} max {r.max_ms:8.2f} ms  CPU us/update: ingestor "
          f"{r.ingestor_us:4.2f} producer {r.producer_us:4.2f} ({r.producer_offered_us:4.2f} per offered) redis "
          f"{r.redis_us:4.2f}  ingestor busy "
          f"{r.ingestor_busy:4.0%} on {r.ingestor_cores:.2f} cores  limit {r.limit}")


def median_run(runs: list[RunResult]) -> RunResult:
    def med(name: str) -> float:
        return float(statistics.median(getattr(r, name) for r in runs))

    middle = sorted(runs, key=lambda r: r.applied_per_s)[len(runs) // 2]
    return RunResult(
        applied_per_s=med("applied_per_s"), offered_per_s=med("offered_per_s"), written_per_s=med("written_per_s"),
        writes_per_s=med("writes_per_s"), books_per_s=med("books_per_s"), backlog_updates=int(med("backlog_updates")),
        p50_ms=med("p50_ms"),
        p99_ms=med("p99_ms"), max_ms=med("max_ms"), ingestor_us=med("ingestor_us"), producer_us=med("producer_us"),
        producer_offered_us=med("producer_offered_us"),
        redis_us=med("redis_us"), ingestor_busy=med("ingestor_busy"), ingestor_cores=med("ingestor_cores"),
        limit=middle.limit)


async def run_exchange(redis_url: str, seconds: float, step: float, taker_probability: float) -> None:
    """The real thing at the exchange's own pace: ``brokerage exchange`` (whole universe) as a child
    process, the QuickFIX feed and the ingestor here, as ``brokerage marketdata`` runs them."""
    import subprocess

    from redis.asyncio import Redis

    from marketdata.fix_feed import MarketDataFeed, feed_engine
    from marketdata.redis_quotes import QuoteWriter
    from refdata.instruments import load_universe

    data_dir = Path(tempfile.mkdtemp(prefix="bench-quotes-exchange-"))
    port = free_port()
    env = {**os.environ, "BROKERAGE_DATA_DIR": str(data_dir), "BROKERAGE_LOG_LEVEL": "WARNING"}
    exchange = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "brokerage.cli", "exchange", "--port", str(port), "--step", str(step),
        "--taker-probability", str(taker_probability), "--reset-on-logon",
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis = Redis.from_url(redis_url)
    try:
        await asyncio.sleep(3)
        symbols = [i.symbol for i in load_universe()]
        ingestor = Ingestor(QuoteWriter(redis, publish=True))
        feed = MarketDataFeed(ingestor, symbols, asyncio.get_running_loop())
        engine = feed_engine(feed, data_dir, "127.0.0.1", port, "MDFEED", "EXCHANGE", heartbeat=5)
        stop = asyncio.Event()
        task = asyncio.create_task(ingestor.run(stop))
        engine.start()
        await asyncio.wait_for(feed.logged_on.wait(), 60)
        await asyncio.sleep(3)  # snapshots in
        ingestor.stats.latencies_us.clear()
        applied0, written0, t0 = ingestor.book.entries_applied, ingestor.stats.quotes_written, time.perf_counter()
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - t0
        latencies = list(ingestor.stats.latencies_us)
        print(f"real exchange, {len(symbols):,} symbols, step {step}s, taker probability {taker_probability}:")
        print(f"  updates applied {(ingestor.book.entries_applied - applied0) / elapsed:,.0f}/s, quotes written "
              f"{(ingestor.stats.quotes_written - written0) / elapsed:,.0f}/s")
        print(f"  ingest - exchange p50 {percentile(latencies, 50) / 1000:.2f} ms  p99 "
              f"{percentile(latencies, 99) / 1000:.2f} ms  (SendingTime has millisecond precision)")
        await asyncio.to_thread(engine.stop, True)
        stop.set()
        await task
    finally:
        exchange.terminate()
        await asyncio.wait_for(exchange.wait(), 20)
        await redis.aclose()  # type: ignore[attr-defined,unused-ignore]
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rate", type=float, nargs="+", default=[100_000, 0])
    parser.add_argument("--shards", type=int, nargs="+", default=[1], help="ingestor processes (symbols hashed)")
    parser.add_argument("--runs", type=int, default=3, help="runs per case; the median is printed after them")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--books", choices=("on", "off"), default="on",
                        help="market depth writer on, as `brokerage marketdata` runs by default (ADR 023/033)")
    parser.add_argument("--depth-readers", type=int, default=0,
                        help="symbols whose books a reader asks for before each run (spread over the universe)")
    parser.add_argument("--stages", action="store_true",
                        help="instead: each stage's CPU per update without Redis (decode, apply, pack)")
    parser.add_argument("--exchange", action="store_true",
                        help="instead: ingest from a real `brokerage exchange` over FIX for --seconds")
    parser.add_argument("--step", type=float, default=0.1, help="exchange simulation step (with --exchange)")
    args = parser.parse_args()

    import uvloop

    if args.stages:
        for n in args.symbols:
            run_stages(n, args.entries, args.batch)
        return
    base = Path(tempfile.mkdtemp(prefix="bench-quotes-"))
    redis_server = None if args.redis_url else LocalRedis(base, free_port())
    try:
        if redis_server is not None:
            redis_server.start()
        url = args.redis_url or redis_server.url  # type: ignore[union-attr]
        if args.exchange:
            uvloop.run(run_exchange(url, args.seconds, args.step, 0.3))
            return
        redis_pid = redis_server.pid() if redis_server is not None else None
        for n in args.symbols:
            for rate in args.rate:
                for shards in args.shards:
                    print(f"{n:>7,} symbols, offered {'max' if not rate else f'{rate:,.0f}/s'}, {entries_label(args)}, "
                          f"{shards} ingestor process{'es' if shards > 1 else ''}:", flush=True)
                    runs = []
                    for i in range(args.runs):
                        runs.append(run_case(url, redis_pid, n, rate, args.seconds, args.entries, args.batch, shards,
                                             args.books == "on", args.depth_readers))
                        print_run(f"run {i + 1}", runs[-1])
                    print_run("median", median_run(runs))
                    sys.stdout.flush()
        print(f"CPUs: {os.cpu_count()}, shared by the producer, the ingestor(s) and Redis (and anything else running;"
              f" load average {os.getloadavg()[0]:.1f} at the end)")
    finally:
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(base, ignore_errors=True)


def entries_label(args: argparse.Namespace) -> str:
    return (f"{args.entries} entries/msg, batches <= {args.batch}, books {args.books}, "
            f"{args.depth_readers} depth readers")


def ask_for_books(redis_url: str, symbols: list[str]) -> None:
    """What a depth subscriber does first: read the books (with books on demand, that asks for them)."""
    from redis.asyncio import Redis

    from marketdata.depth_redis import BookReader

    async def ask() -> None:
        redis = Redis.from_url(redis_url)
        try:
            await BookReader(redis).get_many(symbols)
        finally:
            await redis.aclose()  # type: ignore[attr-defined,unused-ignore]

    asyncio.run(ask())


if __name__ == "__main__":
    main()
