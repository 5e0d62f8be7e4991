"""Prometheus metrics of the ingestor, updated once per batch (never per quote: at 100k quotes/s a
per-quote histogram observation would cost a tenth of a core)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

UPDATES = Counter("marketdata_updates_total", "Market data entries applied to the book")
REJECTED = Counter("marketdata_entries_rejected_total", "Entries refused (unreadable price or size)")
MALFORMED = Counter("marketdata_malformed_messages_total", "FIX market data messages that could not be decoded")
QUOTES = Counter("marketdata_quotes_written_total", "Quotes written to Redis (after conflation)")
WRITE_ERRORS = Counter("marketdata_write_errors_total", "Failed pipelined writes to Redis")
BACKLOG = Gauge("marketdata_backlog_messages", "Messages received and not yet applied")
BATCH_LAG = Histogram(
    "marketdata_batch_lag_seconds",
    "Per written batch: ingest time minus the oldest exchange time in it",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
