"""Orders per second through the pure matching engine with a realistic mix.

Mix (per command): 55% limit orders priced around the touch (a third of them marketable), 5% IOC
limits, 5% market orders, 25% cancels of live orders, 10% replaces (half quantity-down, half
price moves). Commands are generated up front from a seed so only the engine is timed.

    .venv/bin/python bench/matching.py [--orders 300000] [--seed 7] [--venue]

``--venue`` also times the same stream through ``Venue`` (Decimal prices at the boundary).
"""

from __future__ import annotations

import argparse
import random
import time
from decimal import Decimal

from exchange.events import BUY, SELL, OrderAccepted, OrdType, TimeInForce
from exchange.matching import MatchingEngine

Command = tuple[int, int, int, int, int, int, int]  # kind, id, side, type, tif, qty, price


def make_stream(count: int, seed: int, mid: int = 10_000) -> list[Command]:
    rnd = random.Random(seed)
    stream: list[Command] = []
    live: list[int] = []
    next_id = 0
    for _ in range(count):
        r = rnd.random()
        if r < 0.25 and live:
            stream.append((1, live.pop(rnd.randrange(len(live))), 0, 0, 0, 0, 0))
            continue
        if r < 0.35 and live:
            oid = live[rnd.randrange(len(live))]
            qty = rnd.choice((50, 100))
            stream.append((2, oid, 0, 0, 0, qty, mid + rnd.randint(-6, 6)))
            continue
        next_id += 1
        side = BUY if rnd.random() < 0.5 else SELL
        qty = rnd.choice((100, 100, 200, 300, 500))
        if r < 0.40:
            stream.append((0, next_id, side, OrdType.MARKET, TimeInForce.DAY, qty, 0))
            continue
        # Passive orders sit 1-8 ticks behind the touch; a third are marketable by up to 2 ticks.
        offset = rnd.randint(-2, 0) if rnd.random() < 0.33 else rnd.randint(1, 8)
        price = mid - offset if side == BUY else mid + offset
        tif = TimeInForce.IOC if r < 0.45 else TimeInForce.DAY
        stream.append((0, next_id, side, OrdType.LIMIT, tif, qty, price))
        if tif == TimeInForce.DAY:
            live.append(next_id)
        mid += rnd.choice((-1, 0, 0, 0, 1))
    return stream


def run_engine(stream: list[Command]) -> tuple[float, int]:
    engine = MatchingEngine()
    submit, cancel, replace = engine.submit, engine.cancel, engine.replace
    events = 0
    start = time.perf_counter()
    for kind, oid, side, ord_type, tif, qty, price in stream:
        if kind == 0:
            out = submit(oid, side, ord_type, tif, qty, price or None)
        elif kind == 1:
            out = cancel(oid)
        else:
            order = engine.order(oid)
            new_qty = qty + (order.cum if order is not None else 0)
            out = replace(oid, new_qty, price)
        events += len(out)
    elapsed = time.perf_counter() - start
    engine.check_invariants()
    return elapsed, events


def run_venue(stream: list[Command]) -> float:
    from exchange.venue import NewOrder, Venue

    venue = Venue.from_specs([("BENCH", Decimal("0.01"), 1)])
    tick = Decimal("0.01")
    start = time.perf_counter()
    ids: dict[int, int] = {}
    for kind, oid, side, ord_type, tif, qty, price in stream:
        if kind == 0:
            out = venue.submit(NewOrder("BENCH", side, OrdType(ord_type), TimeInForce(tif), Decimal(qty),
                                        price * tick if price else None))
            if out and isinstance(out[0], OrderAccepted):
                ids[oid] = out[0].order_id
        elif kind == 1 and oid in ids:
            venue.cancel("BENCH", ids[oid])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--venue", action="store_true")
    args = parser.parse_args()
    stream = make_stream(args.orders, args.seed)
    best = float("inf")
    events = 0
    for _ in range(args.repeat):
        elapsed, events = run_engine(stream)
        best = min(best, elapsed)
    kinds = [c[0] for c in stream]
    print(f"commands: {len(stream)} (new {kinds.count(0)}, cancel {kinds.count(1)}, replace {kinds.count(2)}); "
          f"events: {events}")
    print(f"matching engine: {len(stream) / best:,.0f} orders/s (best of {args.repeat}, {best * 1e6 / len(stream):.2f} "
          "µs/order)")
    if args.venue:
        elapsed = run_venue(stream)
        print(f"venue (Decimal boundary, new+cancel only): {len(stream) / elapsed:,.0f} commands/s")


if __name__ == "__main__":
    main()
