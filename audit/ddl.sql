-- The audit trail in ClickHouse: one table, the same DDL for chdb (embedded) and a ClickHouse server.
--
-- The shipper stores each outbox event as it is (ids, type, time, account pseudonym, the JSON payload) plus
-- its place in the hash chain; ClickHouse derives the typed columns the reports use from the payload
-- (MATERIALIZED), in C++, at insert. So the payload is the record the chain protects, a malformed value
-- becomes NULL in its column (never a failed insert), and `audit verify` also checks that every derived
-- column still equals its expression.
--
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
    account         String,
    payload         String,
    stream          String,
    stream_seq      UInt64,
    prev_hash       String,
    hash            String,
    shipped_at      DateTime64(6, 'UTC') DEFAULT now64(6),

    actor           String MATERIALIZED JSONExtractString(payload, 'actor'),
    symbol          LowCardinality(String) MATERIALIZED JSONExtractString(payload, 'symbol'),
    side            LowCardinality(String) MATERIALIZED JSONExtractString(payload, 'side'),
    ord_type        LowCardinality(String) MATERIALIZED JSONExtractString(payload, 'ord_type'),
    status          LowCardinality(String) MATERIALIZED JSONExtractString(payload, 'status'),
    cl_ord_id       String MATERIALIZED JSONExtractString(payload, 'cl_ord_id'),
    order_id        String MATERIALIZED JSONExtractString(payload, 'order_id'),
    exec_id         String MATERIALIZED JSONExtractString(payload, 'exec_id'),
    reason          String MATERIALIZED JSONExtractString(payload, 'reason'),
    rule            LowCardinality(String) MATERIALIZED JSONExtractString(payload, 'rule'),
    qty             Nullable(Decimal(38, 4)) MATERIALIZED toDecimal128OrNull(trimBoth(JSONExtractRaw(payload, 'qty'), '"'), 4),
    price           Nullable(Decimal(38, 6)) MATERIALIZED toDecimal128OrNull(trimBoth(JSONExtractRaw(payload, 'price'), '"'), 6),
    last_qty        Nullable(Decimal(38, 4)) MATERIALIZED toDecimal128OrNull(trimBoth(JSONExtractRaw(payload, 'last_qty'), '"'), 4),
    last_px         Nullable(Decimal(38, 6)) MATERIALIZED toDecimal128OrNull(trimBoth(JSONExtractRaw(payload, 'last_px'), '"'), 6),
    -- a sell fill's realised P&L, or (last_px - avg_cost) × last_qty when the producer sent avg_cost instead
    realized_pnl    Nullable(Decimal(38, 4)) MATERIALIZED coalesce(
                        toDecimal128OrNull(trimBoth(JSONExtractRaw(payload, 'realized_pnl'), '"'), 4),
                        toDecimal128OrNull(toString(
                            (toDecimal128OrNull(trimBoth(JSONExtractRaw(payload, 'last_px'), '"'), 6)
                             - toDecimal128OrNull(trimBoth(JSONExtractRaw(payload, 'avg_cost'), '"'), 6))
                            * toDecimal128OrNull(trimBoth(JSONExtractRaw(payload, 'last_qty'), '"'), 4)), 4)),
    bid             Nullable(Decimal(38, 6)) MATERIALIZED toDecimal128OrNull(trimBoth(JSONExtractRaw(payload, 'quote', 'bid'), '"'), 6),
    ask             Nullable(Decimal(38, 6)) MATERIALIZED toDecimal128OrNull(trimBoth(JSONExtractRaw(payload, 'quote', 'ask'), '"'), 6),
    last            Nullable(Decimal(38, 6)) MATERIALIZED toDecimal128OrNull(trimBoth(JSONExtractRaw(payload, 'quote', 'last'), '"'), 6),
    ts_received     Nullable(DateTime64(6, 'UTC')) MATERIALIZED parseDateTime64BestEffortOrNull(JSONExtractString(payload, 'ts', 'received'), 6, 'UTC'),
    ts_risk_checked Nullable(DateTime64(6, 'UTC')) MATERIALIZED parseDateTime64BestEffortOrNull(JSONExtractString(payload, 'ts', 'risk_checked'), 6, 'UTC'),
    ts_committed    Nullable(DateTime64(6, 'UTC')) MATERIALIZED parseDateTime64BestEffortOrNull(JSONExtractString(payload, 'ts', 'committed'), 6, 'UTC'),
    ts_routed       Nullable(DateTime64(6, 'UTC')) MATERIALIZED parseDateTime64BestEffortOrNull(JSONExtractString(payload, 'ts', 'routed'), 6, 'UTC'),
    ts_acknowledged Nullable(DateTime64(6, 'UTC')) MATERIALIZED parseDateTime64BestEffortOrNull(JSONExtractString(payload, 'ts', 'acknowledged'), 6, 'UTC'),
    ts_filled       Nullable(DateTime64(6, 'UTC')) MATERIALIZED parseDateTime64BestEffortOrNull(JSONExtractString(payload, 'ts', 'filled'), 6, 'UTC'),

    INDEX ix_seq seq TYPE minmax GRANULARITY 1,
    INDEX ix_stream stream TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (event_type, occurred_at, event_id)
