"""What market depth costs the ingestor: ``bench/quotes.py``'s ingest with the book writer on or off.

The same feed, loop and figures as ``bench/quotes.py`` (see there); ``--books`` runs the ingestor as
``brokerage marketdata`` does by default (ADR 023), with ``--readers N`` symbols' books wanted by readers
(ADR 033: only those are written, in the quotes' MSET; default: every symbol, the worst case). Without
``--books`` the run is the top-of-book path exactly (``Ingestor.books`` is None). ``--levels N`` gives
each symbol N levels a side (a deeper book to encode: the snapshot of every symbol is applied first,
then the same incremental feed).

    .venv/bin/python bench/depth.py [--books] [--readers N] [--levels 10] [--symbols 10000] [--rate 0]

``--exchange --depth N`` measures the real path instead: ``brokerage exchange`` (whole universe, its own
pace) → FIX at MarketDepth N → ingestor (book writer on when N > 1) → Redis, and prints the CPU seconds
per second of the exchange process and of the ingestor (this process), read from /proc, over ``--seconds``
after the snapshots are in: what depth costs upstream (more 35=X entries) and in the ingestor.

    .venv/bin/python bench/depth.py --exchange --depth 10 --seconds 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

import quotes as base  # bench/quotes.py

from brokerage.services import LocalRedis, free_port
from marketdata.depth_redis import BookWriter
from marketdata.fix_md import SOH
from marketdata.ingestor import Ingestor
from marketdata.redis_quotes import QuoteWriter

LEVELS = 1


def snapshot(symbol: str, levels: int) -> str:
    """A 35=W of ``levels`` a side around 100 (ticks of 0.01)."""
    entries = [f"269=0{SOH}270={100 - i / 100:.2f}{SOH}271={100 * (i + 1)}{SOH}290={i + 1}" for i in range(levels)]
    entries += [f"269=1{SOH}270={100.01 + i / 100:.2f}{SOH}271={100 * (i + 1)}{SOH}290={i + 1}" for i in range(levels)]
    text = SOH.join([f"35=W{SOH}52=20261202-12:00:00.000{SOH}55={symbol}{SOH}262=md-1{SOH}268={len(entries)}",
                     *entries]) + SOH
    return f"8=FIX.4.4{SOH}9={len(text)}{SOH}{text}10=000{SOH}"


class BenchIngestor(Ingestor):
    def __init__(self, writer: QuoteWriter, batch_max: int = 2000) -> None:
        super().__init__(writer, batch_max)
        if LEVELS > 1:  # deep books first: every later increment then writes a LEVELS-deep record
            for symbol in [f"S{i:06d}" for i in range(self._symbols)]:
                self.apply(snapshot(symbol, LEVELS))
            self.book._dirty.clear()

    _symbols = 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_exchange(redis_url: str, seconds: float, depth: int) -> None:
    import asyncio
    import subprocess
    import time

    from redis.asyncio import Redis

    from brokerage.secrets import exchange_password
    from brokerage.settings import Settings
    from marketdata.fix_feed import MarketDataFeed, feed_engine
    from refdata.instruments import load_universe

    data_dir = Path(tempfile.mkdtemp(prefix="bench-depth-exchange-"))
    port = free_port()
    env = {**os.environ, "BROKERAGE_DATA_DIR": str(data_dir), "BROKERAGE_LOG_LEVEL": "WARNING"}
    exchange = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "brokerage.cli", "exchange", "--port", str(port), "--step", "0.1",
        "--taker-probability", "0.3", "--reset-on-logon", cwd=base.REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis = Redis.from_url(redis_url)
    try:
        await asyncio.sleep(3)
        ingestor = Ingestor(QuoteWriter(redis, publish=True))
        if depth > 1:
            ingestor.books = BookWriter(redis, depth=depth)
        feed = MarketDataFeed(ingestor, [i.symbol for i in load_universe()], asyncio.get_running_loop(), depth=depth)
        # the exchange checks MDFEED's password (ADR 007): both read it from the run's secrets folder
        feed.logon_password = exchange_password(Settings(data_dir=data_dir), "MDFEED")
        engine = feed_engine(feed, data_dir, "127.0.0.1", port, "MDFEED", "EXCHANGE", heartbeat=5)
        stop = asyncio.Event()
        task = asyncio.create_task(ingestor.run(stop))
        engine.start()
        await asyncio.wait_for(feed.logged_on.wait(), 60)
        await asyncio.sleep(5)  # snapshots in
        me = os.getpid()
        x0, i0, t0 = cpu_seconds(exchange.pid), cpu_seconds(me), time.perf_counter()
        applied0, written0 = ingestor.book.entries_applied, ingestor.stats.quotes_written
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - t0
        x_cpu, i_cpu = (cpu_seconds(exchange.pid) - x0) / elapsed, (cpu_seconds(me) - i0) / elapsed
        applied = (ingestor.book.entries_applied - applied0) / elapsed
        written = (ingestor.stats.quotes_written - written0) / elapsed
        books = ingestor.books.books_written if ingestor.books else 0
        print(f"real exchange, MarketDepth {depth}, book writer {'on' if depth > 1 else 'off'}, {seconds:.0f} s:")
        print(f"  updates applied {applied:,.0f}/s, quotes written {written:,.0f}/s, books written (total) {books:,}")
        print(f"  CPU: exchange {x_cpu:.3f} cores, ingestor {i_cpu:.3f} cores "
              f"({i_cpu / max(applied, 1) * 1e6:.1f} µs per update applied, "
              f"{i_cpu / max(written, 1) * 1e6:.1f} µs per quote written)")
        await asyncio.to_thread(engine.stop, True)
        stop.set()
        await task
    finally:
        exchange.terminate()
        await asyncio.wait_for(exchange.wait(), 20)
        await redis.aclose()  # type: ignore[attr-defined,unused-ignore]
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    global LEVELS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", action="store_true", help="write book records too (the default deployment)")
    parser.add_argument("--readers", type=int, default=None,
                        help="symbols whose books readers want (default: all of them, with --books)")
    parser.add_argument("--levels", type=int, default=1)
    parser.add_argument("--symbols", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=0)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--exchange", action="store_true", help="instead: the real exchange over FIX")
    parser.add_argument("--depth", type=int, default=10, help="MarketDepth of the feed (with --exchange)")
    args = parser.parse_args()
    LEVELS = args.levels
    BenchIngestor._symbols = args.symbols
    base.Ingestor = BenchIngestor  # type: ignore[attr-defined,misc,unused-ignore]

    import uvloop

    work = Path(tempfile.mkdtemp(prefix="bench-depth-"))
    redis_server = LocalRedis(work, free_port())
    try:
        redis_server.start()
        if args.exchange:
            uvloop.run(run_exchange(redis_server.url, args.seconds, args.depth))
            return
        readers = (args.symbols if args.readers is None else args.readers) if args.books else 0
        print(f"book writer {'on' if args.books else 'off'}, {readers} symbols' books wanted, "
              f"{args.levels} level(s) a side:")
        base.print_run("run", base.run_case(redis_server.url, redis_server.pid(), args.symbols, args.rate,
                                            args.seconds, args.entries, 2000, 1, args.books, readers))
        print(f"CPUs: {os.cpu_count()}, shared with Redis (and anything else running)")
    finally:
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
