"""CPU per call of the gateway's per-order Python work, in isolation (ADR 030; docs/perf/order-path-gateway.md).

    .venv/bin/python bench/order_path_gateway.py [--n 10000] [--rounds 5]

Prints the median CPU time (``time.process_time``, so it holds on a busy machine better than wall time) of
each piece a lifecycle (new -> ack -> fill) runs, with how many times a lifecycle runs it. Uses only functions
that exist before and after ADR 030, so the same script measures both: for an A/B, run it from each checkout
with ``PYTHONPATH=<checkout>`` (alternating, several times).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from gateway.oms import metrics, reports
from gateway.oms.fix_codec import build_message
from gateway.oms.model import ClOrdID, ExecType, OrdType, Side, TimeInForce
from gateway.oms.order_events import OrderAccepted, OrderFilled
from gateway.oms.order_fsm import apply, submit


def measure(fn: Callable[[], object], n: int, rounds: int) -> float:
    """Median over ``rounds`` of the CPU µs per call."""
    per_call = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(n):
            fn()
        per_call.append((time.process_time() - started) / n * 1e6)
    return statistics.median(per_call)


def main(n: int, rounds: int) -> None:
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
        ("metrics: order_decided + venue_acknowledged", 1,
         lambda: (metrics.order_decided(received, order), metrics.venue_acknowledged(received))),
    ]
    total = 0.0
    for name, per_lifecycle, fn in pieces:
        us = measure(fn, n, rounds)
        total += us * per_lifecycle
        print(f"{name:50s} {us:8.2f} µs CPU per call  x{per_lifecycle} per lifecycle")
    print(f"{'sum per lifecycle':50s} {total:8.2f} µs CPU  ({reports.__file__})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    main(args.n, args.rounds)
