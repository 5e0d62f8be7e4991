"""Prometheus metrics of the order path (served on the gateway's ops port, see ``brokerage.ops_http``).

Counters and histograms are moved by one-line hooks in the order path (``service``, ``venue``); gauges that
describe state (queue depths, pool usage, halts, margin calls) are read when Prometheus scrapes, so the
order path carries no bookkeeping for them. Labels are bounded enums (outcome, OrdRejReason, risk rule,
hop, ExecType): never an account, a ClOrdID or a CompID.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = [
    "ACCOUNT_LOCK_SECONDS", "ACK_SECONDS", "FILL_SECONDS", "HALTS_ACTIVE", "LEDGER_TX_ITEMS", "LEDGER_TX_SECONDS",
    "MARGIN_CALLS_OPEN", "ORDERS", "ORDER_REJECTS", "RISK_REJECTS", "UNBOOKED_FILLS", "VENUE_EXEC_ID_REUSED",
    "VENUE_LANE_FAULTS", "VENUE_REPORTS",
    "OrderPathCollector", "account_lock_held", "clock",
    "new_orders_tx", "order_decided", "order_rejected", "refresh_from_database", "venue_acknowledged",
    "venue_batch_done",
]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

ORDERS = Counter("brokerage_orders_total", "New orders decided by the gateway, by outcome (accepted, rejected)",
                 ["outcome"])
ORDER_REJECTS = Counter("brokerage_order_rejects_total", "New orders rejected, by OrdRejReason", ["reason"])
RISK_REJECTS = Counter("brokerage_order_risk_rejects_total", "New orders refused by a pre-trade rule", ["rule"])
ACK_SECONDS = Histogram(
    "brokerage_order_ack_seconds",
    "Order acknowledgement latency by hop: gateway (NewOrderSingle received -> client ack sent after the commit), "
    "venue (routed to the exchange -> the exchange's New applied)",
    ["hop"], buckets=LATENCY_BUCKETS)
FILL_SECONDS = Histogram(
    "brokerage_order_fill_seconds",
    "Fill latency by hop: booking (the exchange's fill taken off its lane -> booked in the ledger and forwarded "
    "to the client)",
    ["hop"], buckets=LATENCY_BUCKETS)
VENUE_REPORTS = Counter("brokerage_venue_reports_total", "Exchange execution reports handled, by ExecType",
                        ["exec_type"])
UNBOOKED_FILLS = Counter("brokerage_fills_unbooked_total",
                         "Exchange fills the ledger refused (order.fill_unbooked events for operations to settle)")
VENUE_EXEC_ID_REUSED = Counter("brokerage_venue_exec_id_reused_total",
                               "Exchange reports dropped because their ExecID was already recorded for ANOTHER order "
                               "(a venue reusing ExecIDs: an execution may be missing; ADR 052)")
VENUE_LANE_FAULTS = Counter("brokerage_venue_lane_faults_total",
                            "Exchange-report batches a fault (not the database, not a refused report) cut short: "
                            "each is tried again, the lane's later reports and the inbound mark waiting behind it")
LEDGER_TX_SECONDS = Histogram("brokerage_ledger_transaction_seconds",
                              "Order path PostgreSQL transactions, by kind (new_orders, venue_reports)", ["kind"],
                              buckets=LATENCY_BUCKETS)
# One account's new orders and exchange reports take turns on its row lock, held from the lock statement to the
# commit (WAL flush included): the seconds of lock time per order bound what one account (and a session trading
# one account) can do. Most of it is answers waiting for the event loop, so it grows with the gateway's load
# (docs/perf/order-path-cpu.md, "One session").
ACCOUNT_LOCK_SECONDS = Histogram(
    "brokerage_account_lock_held_seconds",
    "How long a group-commit transaction held its accounts' row locks, as the gateway sees it (the lock "
    "statement answered -> COMMIT answered), by kind (new_orders, venue_reports)",
    ["kind"], buckets=LATENCY_BUCKETS)
# A batch at its cap (order_batch_max, venue_report_batch_max: ADR 048) means work queued up behind it.
LEDGER_TX_ITEMS = Histogram("brokerage_ledger_transaction_items",
                            "New orders or exchange reports taken together as one group-commit batch (one "
                            "transaction unless an item fails), by kind",
                            ["kind"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
HALTS_ACTIVE = Gauge("brokerage_halts_active", "Market halts in force, by kind (circuit_breaker, operator)", ["kind"])
MARGIN_CALLS_OPEN = Gauge("brokerage_margin_calls_open", "Margin calls not met, by status (open, liquidating)",
                          ["status"])

_EXEC_TYPES = {"0": "new", "F": "trade", "4": "canceled", "5": "replaced", "8": "rejected", "C": "expired"}

# The label children the order path moves per order, looked up once (``labels()`` takes a lock and builds a
# key each call; a child is the same object for the metric's life).
_ACCEPTED = ORDERS.labels("accepted")
_ACK_GATEWAY = ACK_SECONDS.labels("gateway")
_ACK_VENUE = ACK_SECONDS.labels("venue")
_TX_VENUE_REPORTS = LEDGER_TX_SECONDS.labels("venue_reports")
_ITEMS_NEW_ORDERS = LEDGER_TX_ITEMS.labels("new_orders")
_LOCK_NEW_ORDERS = ACCOUNT_LOCK_SECONDS.labels("new_orders")
_LOCK_VENUE_REPORTS = ACCOUNT_LOCK_SECONDS.labels("venue_reports")
_ITEMS_VENUE_REPORTS = LEDGER_TX_ITEMS.labels("venue_reports")
_FILL_BOOKING = FILL_SECONDS.labels("booking")
_REPORTS_BY_CODE = {code: VENUE_REPORTS.labels(kind) for code, kind in _EXEC_TYPES.items()}
_REPORTS_OTHER = VENUE_REPORTS.labels("other")


def _seconds_since(start: datetime | float) -> float:
    if isinstance(start, datetime):
        return max(0.0, (datetime.now(UTC) - start).total_seconds())
    return max(0.0, time.perf_counter() - start)


def order_decided(received: datetime, order: object | None) -> None:
    """A NewOrderSingle answered: accepted orders count here with their ack latency (rejects count in
    ``order_rejected``, which every reject path goes through)."""
    if order is not None:
        _ACCEPTED.inc()
        _ACK_GATEWAY.observe(_seconds_since(received))


def order_rejected(reason: Any) -> None:
    """``reason``: an ``OrdRejReason``."""
    ORDERS.labels("rejected").inc()
    ORDER_REJECTS.labels(str(getattr(reason, "name", reason)).lower()).inc()


def clock() -> float:
    return time.perf_counter()


def new_orders_tx(started: float, orders: int) -> None:
    """A committed new-order batch of ``orders`` that began at ``started`` (``clock()``)."""
    LEDGER_TX_SECONDS.labels("new_orders").observe(_seconds_since(started))
    _ITEMS_NEW_ORDERS.observe(orders)


def account_lock_held(kind: str, locked_at: float | None) -> None:
    """A committed group-commit transaction of ``kind`` (new_orders, venue_reports) whose accounts' locks were
    answered at ``locked_at`` (``clock()``; None: it locked none)."""
    if locked_at is not None:
        (_LOCK_NEW_ORDERS if kind == "new_orders" else _LOCK_VENUE_REPORTS).observe(_seconds_since(locked_at))


def venue_acknowledged(routed: datetime) -> None:
    """The exchange's New for an order this process routed at ``routed``."""
    _ACK_VENUE.observe(_seconds_since(routed))


def venue_batch_done(items: Sequence[object], taken: float) -> None:
    """A batch of exchange reports applied (one transaction) and answered, ``taken`` off its lane at
    ``clock()``: reports by ExecType, fill booking latency, the transaction's time."""
    elapsed = _seconds_since(taken)
    _TX_VENUE_REPORTS.observe(elapsed)
    _ITEMS_VENUE_REPORTS.observe(len(items))
    for item in items:
        code = getattr(item, "exec_type", None)
        if code is None:
            continue
        _REPORTS_BY_CODE.get(str(code), _REPORTS_OTHER).inc()
        if code == "F":
            _FILL_BOOKING.observe(elapsed)


async def refresh_from_database(pool: asyncpg.Pool) -> None:
    """Gauges of state kept in PostgreSQL, read at scrape time (two index-backed counts)."""
    async with pool.acquire(timeout=1) as conn:
        halts = await conn.fetch("SELECT kind, count(*) AS n FROM market_halts WHERE ended_at IS NULL GROUP BY kind")
        calls = await conn.fetch("SELECT status, count(*) AS n FROM margin_calls WHERE status <> 'met' "
                                 "GROUP BY status")
    by_kind = {row["kind"]: row["n"] for row in halts}
    for kind in ("circuit_breaker", "operator"):
        HALTS_ACTIVE.labels(kind).set(by_kind.get(kind, 0))
    by_status = {row["status"]: row["n"] for row in calls}
    for status in ("open", "liquidating"):
        MARGIN_CALLS_OPEN.labels(status).set(by_status.get(status, 0))


def _queued(lanes: object) -> int:
    """Requests waiting in a set of asyncio queues (a dict or list of lanes or queues); 0 if unknown."""
    total = 0
    items = lanes.values() if isinstance(lanes, dict) else lanes if isinstance(lanes, list) else []
    for item in items:
        queue = getattr(item, "queue", item)
        qsize = getattr(queue, "qsize", None)
        if callable(qsize):
            total += int(qsize())
    return total


class OrderPathCollector(Collector):
    """Queue depths and database pool usage, read from the live objects at scrape time (private attributes
    read defensively: a refactor shows up as a 0, never as a failed scrape)."""

    def __init__(self, path: object) -> None:
        self.path = path  # gateway.oms.bootstrap.OrderPath

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("brokerage_queue_depth", "Requests waiting in the order path's queues",
                                  labels=["queue"])
        service = getattr(self.path, "service", None)
        venue = getattr(self.path, "venue_reports", None)
        lanes = getattr(getattr(service, "lanes", None), "_lanes", {})
        depth.add_metric(["client_requests"], _queued(lanes))
        depth.add_metric(["venue_reports"], _queued(getattr(venue, "_lanes", [])))
        yield depth
        pool = getattr(self.path, "pool", None)
        size = GaugeMetricFamily("brokerage_db_pool_connections", "Order path PostgreSQL pool connections, by state",
                                 labels=["state"])
        limit = GaugeMetricFamily("brokerage_db_pool_max_connections", "Order path PostgreSQL pool maximum")
        if pool is not None:
            total, idle = pool.get_size(), pool.get_idle_size()
            size.add_metric(["in_use"], total - idle)
            size.add_metric(["idle"], idle)
            limit.add_metric([], pool.get_max_size())
        yield size
        yield limit
