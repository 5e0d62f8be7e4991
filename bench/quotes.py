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

``--rate 0`` offers as fast as the producer can (capacity).
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from brokerage.services import LocalRedis, free_port
from marketdata.ingestor import Ingestor

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
    backlog = len(ingestor._inbox)
    cpu = time.process_time() - cpu0
    latencies = list(ingestor.stats.latencies_us)
    ingestor._inbox.clear()  # the backlog (if the offer exceeded capacity) is not waited for
    stop_ingest.set()
    await task
    keys = await redis.dbsize()
    await redis.aclose()

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rate", type=float, nargs="+", default=[100_000, 0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()

    import uvloop

    base = Path(tempfile.mkdtemp(prefix="bench-quotes-"))
    redis_server = None if args.redis_url else LocalRedis(base, free_port())
    try:
        if redis_server is not None:
            redis_server.start()
        url = args.redis_url or redis_server.url  # type: ignore[union-attr]
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
