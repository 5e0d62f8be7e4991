-- The audit trail in ClickHouse: one table, the same DDL for chdb (embedded) and a ClickHouse server.
-- ReplacingMergeTree on (event_type, occurred_at, event_id): a batch re-inserted after a crash between the
-- insert and the outbox mark collapses to one row per event; the shipper also skips ids already present,
-- and reports read with FINAL, so a duplicate never shows twice even before a merge.
-- Retention (TTL) is applied separately from the configured policy (audit/retention.py).
CREATE TABLE IF NOT EXISTS audit_events
(
    event_id        UUID,
    seq             UInt64,
    event_type      LowCardinality(String),
    occurred_at     DateTime64(6, 'UTC'),
    actor           String,
    account         String,
    symbol          LowCardinality(String),
    side            LowCardinality(String),
    ord_type        LowCardinality(String),
    status          LowCardinality(String),
    qty             Nullable(Decimal(20, 4)),
    price           Nullable(Decimal(20, 6)),
    last_qty        Nullable(Decimal(20, 4)),
    last_px         Nullable(Decimal(20, 6)),
    realized_pnl    Nullable(Decimal(20, 4)),
    cl_ord_id       String,
    order_id        String,
    exec_id         String,
    reason          String,
    rule            LowCardinality(String),
    bid             Nullable(Decimal(20, 6)),
    ask             Nullable(Decimal(20, 6)),
    last            Nullable(Decimal(20, 6)),
    ts_received     Nullable(DateTime64(6, 'UTC')),
    ts_risk_checked Nullable(DateTime64(6, 'UTC')),
    ts_committed    Nullable(DateTime64(6, 'UTC')),
    ts_routed       Nullable(DateTime64(6, 'UTC')),
    ts_acknowledged Nullable(DateTime64(6, 'UTC')),
    ts_filled       Nullable(DateTime64(6, 'UTC')),
    extra           String,
    stream          String,
    stream_seq      UInt64,
    prev_hash       String,
    hash            String,
    shipped_at      DateTime64(6, 'UTC') DEFAULT now64(6),
    INDEX ix_seq seq TYPE minmax GRANULARITY 1,
    INDEX ix_stream stream TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (event_type, occurred_at, event_id)
