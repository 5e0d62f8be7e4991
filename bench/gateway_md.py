"""FIX market data fan-out of the gateway, CPU only: published quote batches → conflating outboxes →
35=X messages built with quickfix (the send itself replaced by a counter, no sockets, no Redis).

``--sessions`` clients each watch ``--symbols-per-session`` symbols drawn from ``--universe``;
``--batches`` batches of ``--batch`` updates (uniform over the universe) are dispatched, with a flush
after every ``--flush-every`` batches (a flush window with more batches conflates more). Prints
updates dispatched per second, the µs per update, the 35=X messages built and the conflation ratio.

    .venv/bin/python bench/gateway_md.py [--sessions 50] [--symbols-per-session 100] [--universe 1000]
                                         [--batch 2000] [--batches 200] [--flush-every 1]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from decimal import Decimal

import quickfix as fix

from gateway.md.fanout import ClientMarketData
from gateway.md.subscriptions import Subscription
from marketdata.quotes import Quote, encode_batch


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    universe = [f"S{i:04d}" for i in range(args.universe)]
    built = 0

    def send(_sid: fix.SessionID, _message: fix.Message) -> bool:
        nonlocal built
        built += 1
        return True

    md = ClientMarketData(None, set(universe).__contains__, send, is_logged_on=lambda _sid: True)  # type: ignore[arg-type]
    for n in range(args.sessions):
        key = f"FIX.4.4:BROKER->C{n}"
        symbols = tuple(rng.sample(universe, args.symbols_per_session))
        md.session_ids[key] = fix.SessionID("FIX.4.4", "BROKER", f"C{n}")
        md.book.subscribe(key, Subscription("R", symbols, frozenset({"0", "1", "2"}), sent=dict.fromkeys(symbols)))
    batches = []
    ts = 1
    for _ in range(args.batches):
        lines = []
        for _ in range(args.batch):
            symbol = rng.choice(universe)
            bid = Decimal(rng.randrange(10_000, 10_100)) / 100
            ts += 1
            lines.append((symbol, Quote(symbol, bid=bid, bid_size=Decimal(rng.randrange(1, 50) * 100),
                                        ask=bid + Decimal("0.01"), ask_size=Decimal(100), last=bid,
                                        last_size=Decimal(100), volume=Decimal(ts), ingest_ts_us=ts).to_json()))
        batches.append(encode_batch(lines))

    start = time.perf_counter()
    for i, batch in enumerate(batches, 1):
        md.dispatch(batch)
        if i % args.flush_every == 0:
            md.flush()
    md.flush()
    elapsed = time.perf_counter() - start
    updates = args.batch * args.batches
    offered = md.updates_dispatched
    conflated = sum(s.outbox.conflated for s in md.book.sessions.values())
    print(f"sessions {args.sessions} x {args.symbols_per_session} symbols of {args.universe}; "
          f"{updates:,} updates in {args.batches} batches, flush every {args.flush_every}")
    print(f"  {updates / elapsed:,.0f} updates/s ({elapsed / updates * 1e6:.2f} µs per published update), "
          f"{offered:,} for watched symbols")
    print(f"  {built:,} 35=X built ({built / elapsed:,.0f}/s), {conflated:,} updates conflated away")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--symbols-per-session", type=int, default=100)
    parser.add_argument("--universe", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--flush-every", type=int, default=1)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
