"""CPU per call of the gateway's per-order Python work, in isolation (ADR 030; docs/perf/order-path-gateway.md).

    .venv/bin/python bench/order_path_gateway.py [--n 10000] [--rounds 5] [--only TEXT]
                                                 [--loopback N [--memory-store] [--polled]]

Prints the median CPU time (``time.process_time``, so it holds on a busy machine better than wall time) of
each piece a lifecycle (new -> ack -> fill) runs, with how many times a lifecycle runs it; ``--only TEXT`` runs
the pieces whose name holds TEXT (for instruction counts: ``valgrind --tool=callgrind`` at two ``--n``, the
difference). Uses only functions that exist before and after ADR 030 (and 037), so the same script measures both:
for an A/B, run it from each checkout with ``PYTHONPATH=<checkout>`` (alternating, several times).

``--loopback N [--memory-store]`` (ADR 046): two ``fixsession.Engine``s in this process (initiator and
acceptor, FileStores in a temp dir) and N NewOrderSingles sent from this thread through the initiator; the
acceptor's engine thread receives each (``fromApp`` chain, bridge copy) and the loop takes it. Prints the
process's CPU per message, all threads (``time.process_time``): QuickFIX's send, store, socket and parse, our
callbacks, the hand-offs. ``--polled`` (ADR 057): no engine threads, both connectors driven by ``poll(0)`` from
the loop's thread, to weigh the GIL hand-offs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # bench/audit.py would stand in for the audit package

import quickfix as fix

from fixsession import messages
from fixsession.application import SafeApplication
from fixsession.message_log import LoggingApplication, MessageLog, StoreScrubber
from gateway.oms import audit_trail, metrics, model, reports
from gateway.oms.audit_spool import watch_rejects
from gateway.oms.fix_codec import build_message, crack
from gateway.oms.model import ClOrdID, ExecType, OrdType, Side, TimeInForce
from gateway.oms.order_events import OrderAccepted, OrderFilled
from gateway.oms.order_fsm import Order, apply, submit
from gateway.oms.session_days import StoreClock, stamp_session_start
from gateway.oms.store import StoredOrder
from ledger.reservations import OrderReservation


def measure(fn: Callable[[], object], n: int, rounds: int) -> float:
    """Median over ``rounds`` of the CPU µs per call."""
    per_call = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(n):
            fn()
        per_call.append((time.process_time() - started) / n * 1e6)
    return statistics.median(per_call)


def main(n: int, rounds: int, only: str = "") -> None:
    order = submit(order_id="O018d2a1b2c3d4e5f6a7", cl_ord_id=ClOrdID("C1"), account_id="ACC-BENCH1",  # type: ignore[arg-type]
                   symbol="AAPL", side=Side.BUY, ord_type=OrdType.LIMIT, time_in_force=TimeInForce.IOC,
                   qty=Decimal(1), price=Decimal("190.12"))
    accepted, fill = OrderAccepted("V1"), OrderFilled("X1", Decimal(1), Decimal("190.10"))  # type: ignore[arg-type]
    acked = apply(order, accepted)
    filled = apply(acked, fill)
    fill_report = reports.execution_report(filled, "E3", ExecType.TRADE, last_qty=Decimal(1),
                                           last_px=Decimal("190.10"))
    received = datetime.now(UTC)

    def three_reports() -> None:
        reports.execution_report(order, "E1", ExecType.PENDING_NEW)
        reports.execution_report(acked, "E2", ExecType.NEW)
        reports.execution_report(filled, "E3", ExecType.TRADE, last_qty=Decimal(1), last_px=Decimal("190.10"))

    def two_metrics() -> None:
        metrics.order_decided(received, order)
        metrics.venue_acknowledged(received)

    def ledger_words() -> None:
        for _ in range(27):
            _ = ExecType.TRADE.ledger

    pieces: list[tuple[str, int, Callable[[], object]]] = [
        ("client ExecutionReports (PendingNew, New, fill)", 1, three_reports),
        ("venue NewOrderSingle fields", 1, lambda: reports.venue_new_order(order)),
        ("build_message (18-field fill report)", 4, lambda: build_message("8", fill_report)),
        ("apply: acknowledged + filled", 1, lambda: apply(apply(order, accepted), fill)),
        ("enum .ledger x27", 1, ledger_words),
        ("from_fix x3 (Side, OrdType, TimeInForce)", 1,
         lambda: (Side.from_fix("1"), OrdType.from_fix("2"), TimeInForce.from_fix("3"))),
        ("metrics: order_decided + venue_acknowledged", 1, two_metrics),
    ]
    pieces += _send_chain_pieces(order)
    if only:
        pieces = [piece for piece in pieces if only in piece[0]]
    gc.collect()
    gc.freeze()  # as the gateway after start-up: set-up objects out of the collector's sweeps (steadier figures)
    total = 0.0
    for name, per_lifecycle, fn in pieces:
        us = measure(fn, n, rounds)
        total += us * per_lifecycle
        print(f"{name:50s} {us:8.2f} µs CPU per call  x{per_lifecycle} per lifecycle")
    print(f"{'sum per lifecycle':50s} {total:8.2f} µs CPU  ({reports.__file__})")


def _send_chain_pieces(order: Order) -> list[tuple[str, int, Callable[[], object]]]:
    """The FIX edge's per-message Python work and the audit event (ADR 037), with what exists on either side."""
    directory = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    loop = asyncio.new_event_loop()
    sid = fix.SessionID("FIX.4.4", "BROKER", "CLIENT1")
    outbound = SafeApplication("gateway")
    outbound.no_resend_types = frozenset({"W", "X"})
    watch_rejects(outbound, lambda event: None)
    out_chain = LoggingApplication(outbound, MessageLog(directory), StoreScrubber(directory))
    report = build_message("8", [(37, "O1"), (11, "C1"), (17, "E1"), (150, "0"), (39, "0"), (55, "AAPL"), (54, "1"),
                                 (38, "1"), (40, "2"), (44, "190.12"), (59, "3"), (151, "1"), (14, "0"), (6, "0")])
    inbound = SafeApplication("gateway", loop)
    in_chain = LoggingApplication(inbound, MessageLog(directory), StoreScrubber(directory))
    new_order = fix.Message("8=FIX.4.4\x019=5\x0135=D\x0134=2\x0149=CLIENT1\x0156=BROKER\x0111=C1\x011=ACC\x01"
                            "55=AAPL\x0154=1\x0138=1\x0140=2\x0144=190.12\x0159=3\x0110=000\x01", False)
    bridge = inbound.bridge
    assert bridge is not None

    def from_app() -> None:  # the engine thread's part; the inbox is emptied as the loop would
        in_chain.fromApp(new_order, sid)
        bridge._inbox.clear()
        bridge._pending.clear()

    held = OrderReservation(Decimal(1), Decimal("190.12"))
    stored = StoredOrder(order, "CLIENT1", order.cl_ord_id, held)
    move: Callable[..., object] = getattr(model, "evolve", dataclasses.replace)
    wire_copy = getattr(messages, "InboundMessage", None)  # ADR 037: the copy the loop gets carries its text
    handed = wire_copy(new_order, new_order.toString()) if wire_copy is not None else fix.Message(new_order)
    keep_text = getattr(messages, "keep_text", None)  # ADR 057: the bridge's copy keeps the log's text
    if keep_text is not None:
        keep_text(handed, str(new_order.toString()))
    (directory / "FIX.4.4-BROKER-CLIENT1.session").write_text("20261203-00:00:00  \n")
    stamped = SafeApplication("gateway")
    stamped.on_app_in = lambda message, session_id, *rest: None  # type: ignore[method-assign]
    stamp_session_start(stamped, StoreClock(directory))
    hook: Callable[..., object] | None = getattr(stamped, "inbound_stamp", None)  # ADR 056 (earlier: on_app_in)

    def stamp_one() -> object:
        if hook is not None:
            return hook(new_order, sid, "FIX.4.4:BROKER->CLIENT1")
        stamped.on_app_in(new_order, sid)
        return None
    return [
        ("session-start stamp on an inbound message", 3, stamp_one),
        ("toApp chain: one outbound report", 4, lambda: out_chain.toApp(report, sid)),
        ("fromApp chain + bridge copy: one inbound order", 3, from_app),
        ("crack (gateway, a copy as handed over)", 3, lambda: crack(handed)),
        ("audit event + payload", 3, lambda: audit_trail.event("order.fill", order, "CLIENT1", exec_id="E1",
                                                              extra={"venue_exec_id": "X1"}).to_payload()),
        ("StoredOrder + reservation moved (x2)", 2,
         lambda: move(stored, order=order, reservation=move(held, leaves_qty=Decimal(0)))),
    ]


def loopback(count: int, rounds: int, memory_store: bool = False, polled: bool = False) -> None:
    """CPU per application message through two engines in this process (see the module docstring).
    ``memory_store``: QuickFIX's MemoryStore instead of the FileStore, to weigh the FileStore (nothing
    survives a restart with it: never a setting of ours). ``polled`` (ADR 057): no engine threads; this thread
    drives both connectors with ``poll(0)``, so the GIL never changes hands."""
    if memory_store:
        fix.FileStoreFactory = lambda settings: fix.MemoryStoreFactory()  # this process only
    from brokerage.services import free_port
    from fixsession.engine import Engine, ensure_port_free
    from fixsession.settings import Endpoint, SessionSpec

    class Sink(SafeApplication):
        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            super().__init__("sink", loop)
            self.received = self.target = 0
            self.logged_on = asyncio.Event()
            self.reached = asyncio.Event()

        def on_logon(self, session_id: fix.SessionID) -> None:  # engine thread
            self.bridge.loop.call_soon_threadsafe(self.logged_on.set)  # type: ignore[union-attr]

        def handle_app_message(self, session_id: fix.SessionID, message: fix.Message) -> None:  # type: ignore[override]
            self.received += 1
            if self.received == self.target:
                self.reached.set()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        directory = Path(tempfile.mkdtemp(prefix="gw-loopback-"))
        port = free_port()
        acceptor_app, initiator_app = Sink(loop), Sink(loop)
        acceptor = Engine(Endpoint("venue", "acceptor", directory, port), [SessionSpec("VENUE", "MEMBER")],
                          acceptor_app)
        initiator = Engine(Endpoint("member", "initiator", directory, port, reconnect_seconds=1),
                           [SessionSpec("MEMBER", "VENUE")], initiator_app)
        if polled:
            ensure_port_free(port)

            def pump() -> None:
                acceptor.connector.poll(0.0)
                initiator.connector.poll(0.0)
        else:
            acceptor.start()
            initiator.start()

            def pump() -> None:
                pass
        try:
            while polled and not (acceptor_app.logged_on.is_set() and initiator_app.logged_on.is_set()):
                pump()
                await asyncio.sleep(0.001)
            await asyncio.gather(acceptor_app.logged_on.wait(), initiator_app.logged_on.wait())
            sid = fix.SessionID("FIX.4.4", "MEMBER", "VENUE")
            body = [(11, "C1"), (1, "ACC"), (55, "AAPL"), (54, "1"), (60, "20261203-10:00:00.000"), (38, "1"),
                    (40, "2"), (44, "190.12"), (59, "3")]
            per_message = []
            for _ in range(rounds):
                acceptor_app.target = acceptor_app.received + count
                acceptor_app.reached.clear()
                started = time.process_time()
                for number in range(count):
                    SafeApplication.send(sid, build_message("D", body))
                    if number % 50 == 49:  # a window, as the gateway's sends come in bursts per batch
                        pump()
                        await asyncio.sleep(0)
                while polled and not acceptor_app.reached.is_set():
                    pump()
                    await asyncio.sleep(0)
                await acceptor_app.reached.wait()
                per_message.append((time.process_time() - started) / count * 1e6)
            store = ("MemoryStore" if memory_store else "FileStore") + (", polled" if polled else "")
            rounds_text = ", ".join(f"{x:.1f}" for x in per_message)
            print(f"{f'QuickFIX loopback ({store}): one NewOrderSingle out and in':50s} "
                  f"{statistics.median(per_message):8.2f} µs CPU per message, all threads (rounds: {rounds_text})")
        finally:
            if not polled:  # polled connectors were never started (and a polled acceptor keeps its port: ADR 057)
                initiator.stop(force=True)
                acceptor.stop(force=True)
            shutil.rmtree(directory, ignore_errors=True)

    asyncio.run(run())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="", help="only the pieces whose name holds this text (e.g. under callgrind)")
    parser.add_argument("--loopback", type=int, default=0, help="only the two-engine loopback, this many messages")
    parser.add_argument("--memory-store", action="store_true", help="the loopback with QuickFIX's MemoryStore")
    parser.add_argument("--polled", action="store_true",
                        help="the loopback with both connectors polled from this thread (no engine threads)")
    args = parser.parse_args()
    if args.loopback:
        loopback(args.loopback, args.rounds, args.memory_store, args.polled)
    else:
        main(args.n, args.rounds, args.only)
