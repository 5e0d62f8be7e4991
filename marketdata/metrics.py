"""Prometheus metrics of the ingestor, updated once per batch (never per quote: at 100k quotes/s a
per-quote histogram observation would cost a tenth of a core)."""

from __future__ import annotations

import time

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

# h11-observability: quote freshness (the marketdata process's /ready and the QuoteAge alert)
LAST_QUOTE = Gauge("marketdata_last_quote_timestamp_seconds", "Unix time of the last quote batch written to Redis")
QUOTE_AGE = Gauge("marketdata_quote_age_seconds",
                  "Seconds since the last quote batch was written to Redis (since start-up while none yet)")
_clock = {"started": time.time(), "last": 0.0}
QUOTE_AGE.set_function(lambda: time.time() - (_clock["last"] or _clock["started"]))


def quote_written() -> None:
    """A batch of quotes reached Redis (the ingestor calls it once per written batch)."""
    _clock["last"] = time.time()
    LAST_QUOTE.set(_clock["last"])


def quote_age() -> float | None:
    """Seconds since the last quote was written; None before the first one."""
    return time.time() - _clock["last"] if _clock["last"] else None
