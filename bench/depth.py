"""What market depth costs the ingestor: ``bench/quotes.py``'s ingest with the book writer on or off.

The same feed, loop and figures as ``bench/quotes.py`` (see there); ``--books`` runs the ingestor as
``brokerage marketdata`` does by default (ADR 023): after each quote write, the same symbols' book
records go to ``book:SYMBOL`` and ``books:shard:N`` in one more round trip. Without it the run is the
top-of-book path exactly (``Ingestor.books`` is None). ``--levels N`` gives each symbol N levels a side
(a deeper book to encode: the snapshot of every symbol is sent first, then the same incremental feed).

    .venv/bin/python bench/depth.py [--books] [--levels 10] [--symbols 10000] [--rate 0] [--seconds 10]
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
    books_on = False

    def __init__(self, writer: QuoteWriter, batch_max: int = 2000) -> None:
        super().__init__(writer, batch_max)
        if self.books_on:
            self.books = BookWriter(writer._redis)
        if LEVELS > 1:  # deep books first: every later increment then writes a LEVELS-deep record
            for symbol in [f"S{i:06d}" for i in range(self._symbols)]:
                self.apply(snapshot(symbol, LEVELS))
            self.book._dirty.clear()

    _symbols = 0


def main() -> None:
    global LEVELS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", action="store_true", help="write book records too (the default deployment)")
    parser.add_argument("--levels", type=int, default=1)
    parser.add_argument("--symbols", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=0)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--entries", type=int, default=100)
    args = parser.parse_args()
    LEVELS = args.levels
    BenchIngestor.books_on = args.books
    BenchIngestor._symbols = args.symbols
    base.Ingestor = BenchIngestor  # type: ignore[misc]

    import uvloop

    work = Path(tempfile.mkdtemp(prefix="bench-depth-"))
    redis_server = LocalRedis(work, free_port())
    try:
        redis_server.start()
        print(f"book writer {'on' if args.books else 'off'}, {args.levels} level(s) a side:")
        uvloop.run(base.run_case(redis_server.url, args.symbols, args.rate, args.seconds, args.entries, 2000))
        print(f"CPUs: {os.cpu_count()}, shared with Redis (and anything else running)")
    finally:
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
