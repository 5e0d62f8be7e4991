"""Market data ingest: updates/s from FIX 35=X into Redis, and ingest latency, at 10k and 100k symbols.

The feed: 35=X incremental refreshes in the exchange's wire form (``exchange.fix_codec.incremental``:
279/269/55/270/271/290 per entry, ``--entries`` entries per message as one exchange flush carries
many symbols), pre-built so that producing them costs nothing at run time. A producer thread stamps
SendingTime (52) with the current time in microseconds and hands each message to
``Ingestor.submit`` at the offered rate, exactly where the QuickFIX engine thread hands them in the
real process; the ingestor decodes, applies, conflates and writes pipelined batches (MSET + sharded
PUBLISH) to a real Redis. Latency is ingest timestamp − exchange timestamp of every written quote.
QuickFIX's own parse of the socket bytes is not in the loop (C++, per message rather than per entry).

    .venv/bin/python bench/quotes.py [--symbols 10000 100000] [--rate 100000] [--seconds 10]
                                     [--entries 100] [--redis-url redis://...]

``--exchange`` measures the real path instead: the exchange process (the whole universe, at its own
simulated pace) → FIX → QuickFIX initiator → ingestor → Redis.

``--rate 0`` measures capacity: the producer keeps at most 4 messages queued (closed loop).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from brokerage.services import LocalRedis, free_port
from marketdata.ingestor import Ingestor

REPO = Path(__file__).resolve().parent.parent
SOH = "\x01"
STAMP = "@@SENDINGTIME@@"


def percentile(values: list[int], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


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
                time.sleep(0.0005)
                continue
        elif ingestor.backlog >= 4:  # capacity run: keep the ingestor fed, never flooded
            time.sleep(0.0002)
            continue
        now = datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")
        ingestor.submit(messages[sent % len(messages)].replace(STAMP, now, 1))
        sent += 1
    offered.append(sent * entries)


async def run_case(redis_url: str, n_symbols: int, rate: float, seconds: float, entries: int, batch: int) -> None:
    from redis.asyncio import Redis

    from marketdata.redis_quotes import QuoteWriter

    symbols = [f"S{i:06d}" for i in range(n_symbols)]
    messages = build_messages(symbols, entries, 2000, seed=n_symbols)
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    ingestor = Ingestor(QuoteWriter(redis, publish=True), batch_max=batch)
    stop_ingest = asyncio.Event()
    task = asyncio.create_task(ingestor.run(stop_ingest))
    await asyncio.sleep(0.05)

    stop_producer = threading.Event()
    offered: list[int] = []
    thread = threading.Thread(target=producer, args=(ingestor, messages, rate, entries, stop_producer, offered))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    applied0, written0 = ingestor.book.entries_applied, ingestor.stats.quotes_written
    thread.start()
    await asyncio.sleep(seconds)
    stop_producer.set()
    thread.join()
    elapsed = time.perf_counter() - wall0
    applied = ingestor.book.entries_applied - applied0
    written = ingestor.stats.quotes_written - written0
    backlog = ingestor.backlog
    cpu = time.process_time() - cpu0
    latencies = list(ingestor.stats.latencies_us)
    ingestor.discard_backlog()  # what the offer left queued beyond capacity is not waited for
    stop_ingest.set()
    await task
    keys = await redis.dbsize()
    await redis.aclose()  # type: ignore[attr-defined,unused-ignore]

    print(f"{n_symbols:>7,} symbols, offered {'max' if not rate else f'{rate:,.0f}/s'}, {entries} entries/msg, "
          f"batches <= {batch}:")
    print(f"  updates applied   {applied / elapsed:>10,.0f}/s   (offered {offered[0] / elapsed:,.0f}/s, "
          f"backlog at stop {backlog * entries:,} updates)")
    print(f"  quotes written    {written / elapsed:>10,.0f}/s   ({ingestor.stats.writes / elapsed:,.0f} "
          f"pipelined writes/s, {keys:,} keys)")
    print(f"  ingest - exchange p50 {percentile(latencies, 50) / 1000:.2f} ms  p99 "
          f"{percentile(latencies, 99) / 1000:.2f} ms  max {max(latencies, default=0) / 1000:.2f} ms"
          f"  ({len(latencies):,} quotes)")
    print(f"  process CPU {cpu / elapsed:.2f} cores (producer + ingestor; Redis is another process)")


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
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--exchange", action="store_true",
                        help="instead: ingest from a real `brokerage exchange` over FIX for --seconds")
    parser.add_argument("--step", type=float, default=0.1, help="exchange simulation step (with --exchange)")
    args = parser.parse_args()

    import uvloop

    base = Path(tempfile.mkdtemp(prefix="bench-quotes-"))
    redis_server = None if args.redis_url else LocalRedis(base, free_port())
    try:
        if redis_server is not None:
            redis_server.start()
        url = args.redis_url or redis_server.url  # type: ignore[union-attr]
        if args.exchange:
            uvloop.run(run_exchange(url, args.seconds, args.step, 0.3))
            return
        for n in args.symbols:
            for rate in args.rate:
                uvloop.run(run_case(url, n, rate, args.seconds, args.entries, args.batch))
        print(f"CPUs: {os.cpu_count()}, shared with Redis (and anything else running)")
    finally:
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
