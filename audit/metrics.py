"""Prometheus metrics of the audit shipper (served on its /metrics)."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

EVENTS_SHIPPED = Counter("brokerage_audit_events_shipped_total", "Outbox events inserted into ClickHouse")
DUPLICATES_SKIPPED = Counter(
    "brokerage_audit_duplicates_skipped_total", "Outbox events found already in ClickHouse after a restart"
)
SHIP_ERRORS = Counter("brokerage_audit_ship_errors_total", "Failed shipping attempts (ClickHouse or PostgreSQL)")
OUTBOX_PENDING = Gauge("brokerage_audit_outbox_pending", "Outbox events not yet shipped")
OUTBOX_LAG = Gauge("brokerage_audit_outbox_lag_seconds", "Age of the oldest unshipped outbox event")
SHIP_LAG = Histogram(
    "brokerage_audit_ship_lag_seconds", "Time from the event to its insert into ClickHouse",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
BATCH_SECONDS = Histogram("brokerage_audit_batch_seconds", "Time to ship one batch")

# h11-observability: the shipper loop's heartbeat (the audit process's /ready)
LOOP_TURNED = Gauge("brokerage_audit_loop_timestamp_seconds", "Unix time the shipper loop last started a round")
_last_turn = {"at": 0.0}


def loop_turned() -> None:
    _last_turn["at"] = time.time()
    LOOP_TURNED.set(_last_turn["at"])


def loop_age() -> float | None:
    """Seconds since the shipper loop last turned; None before it first did."""
    return time.time() - _last_turn["at"] if _last_turn["at"] else None
