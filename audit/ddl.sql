-- The audit trail in ClickHouse: one table, the same DDL for chdb (embedded) and a ClickHouse server.
--
-- The shipper stores each outbox event as it is (ids, type, time, account pseudonym, the JSON payload) plus
-- its place in the hash chain; ClickHouse derives the typed fields the reports use from the payload
-- (MATERIALIZED, parsed once per row, in C++, at insert). So the payload is the record the chain protects, a
-- malformed value becomes NULL in its field (never a failed insert), the derived fields cannot be UPDATEd,
-- and `audit verify` also checks that they still equal their expression over the payload.
--
-- ReplacingMergeTree on (event_type, occurred_at, event_id): a batch re-inserted after a crash between the
-- insert and the outbox record collapses to one row per event; the shipper also skips ids already present,
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

    -- The payload's fields, parsed ONCE per row at insert (one JSONExtract into a named tuple; each element is
    -- stored as its own column file), and read through the ALIAS columns below.
    fields Tuple(actor String, symbol String, side String, ord_type String, status String, cl_ord_id String, order_id String, exec_id String, reason String, rule String, qty Nullable(Decimal(38, 4)), price Nullable(Decimal(38, 6)), last_qty Nullable(Decimal(38, 4)), last_px Nullable(Decimal(38, 6)), realized_pnl Nullable(Decimal(38, 4)), avg_cost Nullable(Decimal(38, 6)), quote Tuple(bid Nullable(Decimal(38, 6)), ask Nullable(Decimal(38, 6)), last Nullable(Decimal(38, 6))), ts Tuple(received Nullable(DateTime64(6, 'UTC')), risk_checked Nullable(DateTime64(6, 'UTC')), committed Nullable(DateTime64(6, 'UTC')), routed Nullable(DateTime64(6, 'UTC')), acknowledged Nullable(DateTime64(6, 'UTC')), filled Nullable(DateTime64(6, 'UTC'))))
        MATERIALIZED JSONExtract(if(startsWith(payload, '{'), payload, '{}'), 'Tuple(actor String, symbol String, side String, ord_type String, status String, cl_ord_id String, order_id String, exec_id String, reason String, rule String, qty Nullable(Decimal(38, 4)), price Nullable(Decimal(38, 6)), last_qty Nullable(Decimal(38, 4)), last_px Nullable(Decimal(38, 6)), realized_pnl Nullable(Decimal(38, 4)), avg_cost Nullable(Decimal(38, 6)), quote Tuple(bid Nullable(Decimal(38, 6)), ask Nullable(Decimal(38, 6)), last Nullable(Decimal(38, 6))), ts Tuple(received Nullable(DateTime64(6, \'UTC\')), risk_checked Nullable(DateTime64(6, \'UTC\')), committed Nullable(DateTime64(6, \'UTC\')), routed Nullable(DateTime64(6, \'UTC\')), acknowledged Nullable(DateTime64(6, \'UTC\')), filled Nullable(DateTime64(6, \'UTC\'))))'),

    actor           String ALIAS fields.actor,
    symbol          String ALIAS fields.symbol,
    side            String ALIAS fields.side,
    ord_type        String ALIAS fields.ord_type,
    status          String ALIAS fields.status,
    cl_ord_id       String ALIAS fields.cl_ord_id,
    order_id        String ALIAS fields.order_id,
    exec_id         String ALIAS fields.exec_id,
    reason          String ALIAS fields.reason,
    rule            String ALIAS fields.rule,
    qty             Nullable(Decimal(38, 4)) ALIAS fields.qty,
    price           Nullable(Decimal(38, 6)) ALIAS fields.price,
    last_qty        Nullable(Decimal(38, 4)) ALIAS fields.last_qty,
    last_px         Nullable(Decimal(38, 6)) ALIAS fields.last_px,
    -- a sell fill's realised P&L, or (last_px - avg_cost) × last_qty when the producer sent avg_cost instead
    realized_pnl    Nullable(Decimal(38, 4)) ALIAS coalesce(fields.realized_pnl,
                        toDecimal128((fields.last_px - fields.avg_cost) * fields.last_qty, 4)),
    bid             Nullable(Decimal(38, 6)) ALIAS fields.quote.bid,
    ask             Nullable(Decimal(38, 6)) ALIAS fields.quote.ask,
    last            Nullable(Decimal(38, 6)) ALIAS fields.quote.last,
    ts_received     Nullable(DateTime64(6, 'UTC')) ALIAS fields.ts.received,
    ts_risk_checked Nullable(DateTime64(6, 'UTC')) ALIAS fields.ts.risk_checked,
    ts_committed    Nullable(DateTime64(6, 'UTC')) ALIAS fields.ts.committed,
    ts_routed       Nullable(DateTime64(6, 'UTC')) ALIAS fields.ts.routed,
    ts_acknowledged Nullable(DateTime64(6, 'UTC')) ALIAS fields.ts.acknowledged,
    ts_filled       Nullable(DateTime64(6, 'UTC')) ALIAS fields.ts.filled,

    INDEX ix_seq seq TYPE minmax GRANULARITY 1,
    INDEX ix_stream stream TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (event_type, occurred_at, event_id);

-- Report tables (ADR 043): narrow shapes the two heavy reports read instead of scanning audit_events, fed by
-- materialized views at insert (a view runs over each inserted block). They hold nothing of their own: every
-- row is the view's SELECT over audit_events, so `audit verify` recomputes that SELECT over audit_events FINAL
-- and compares (audit.sink.report_table_mismatch), and ensure_schema back-fills a table from it when its view
-- is first created. Both collapse an event inserted twice, as audit_events FINAL does: audit_fills by its key
-- (ReplacingMergeTree, read FINAL), audit_orders by keeping fills as a set and the accepted event's fields
-- with any()/min().

-- Fills with a quantity, one row each, in (account, symbol, time) order: wash-sales' histories.
CREATE TABLE IF NOT EXISTS audit_fills
(
    event_id     UUID,
    occurred_at  DateTime64(6, 'UTC'),
    account      LowCardinality(String),
    symbol       LowCardinality(String),
    side         LowCardinality(String),
    exec_id      String,
    last_qty     Decimal(38, 4),
    last_px      Nullable(Decimal(38, 6)),
    realized_pnl Nullable(Decimal(38, 4))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (account, symbol, occurred_at, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS audit_fills_mv TO audit_fills AS
SELECT event_id, occurred_at, account, symbol, side, exec_id, assumeNotNull(last_qty) AS last_qty, last_px,
       realized_pnl
FROM audit_events
WHERE event_type = 'order.fill' AND last_qty > 0;

-- One row per order (after merges; read FINAL): its accepted event's fields and the set of its fills, for
-- best-execution. The accepted fields are NULL in a block without the accepted event; any() and min() skip
-- NULLs, so the merged row has the accepted event's values whichever insert brought it.
CREATE TABLE IF NOT EXISTS audit_orders
(
    order_id    String,
    account     SimpleAggregateFunction(any, Nullable(String)),
    symbol      SimpleAggregateFunction(any, Nullable(String)),
    ord_type    SimpleAggregateFunction(any, Nullable(String)),
    side        SimpleAggregateFunction(any, Nullable(String)),
    qty         SimpleAggregateFunction(any, Nullable(Decimal(38, 4))),
    bid         SimpleAggregateFunction(any, Nullable(Decimal(38, 6))),
    ask         SimpleAggregateFunction(any, Nullable(Decimal(38, 6))),
    accepted_at SimpleAggregateFunction(min, Nullable(DateTime64(6, 'UTC'))),
    received    SimpleAggregateFunction(min, Nullable(DateTime64(6, 'UTC'))),
    -- (event id, time, last_qty, last_px, filled hop or time) of every fill with a quantity, each once
    fills       SimpleAggregateFunction(groupUniqArrayArray,
                    Array(Tuple(event_id UUID, at DateTime64(6, 'UTC'), qty Decimal(38, 4), px Nullable(Decimal(38, 6)),
                                filled_at DateTime64(6, 'UTC')))),
    -- the order's first event: retention deletes the order with it (a report needs the accepted event anyway)
    first_at    SimpleAggregateFunction(min, DateTime64(6, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY order_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS audit_orders_mv TO audit_orders AS
SELECT
    order_id,
    anyIf(toNullable(account), event_type = 'order.accepted') AS account,
    anyIf(toNullable(symbol), event_type = 'order.accepted') AS symbol,
    anyIf(toNullable(ord_type), event_type = 'order.accepted') AS ord_type,
    anyIf(toNullable(side), event_type = 'order.accepted') AS side,
    anyIf(qty, event_type = 'order.accepted') AS qty,
    anyIf(bid, event_type = 'order.accepted') AS bid,
    anyIf(ask, event_type = 'order.accepted') AS ask,
    minIf(toNullable(occurred_at), event_type = 'order.accepted') AS accepted_at,
    minIf(toNullable(coalesce(ts_received, occurred_at)), event_type = 'order.accepted') AS received,
    groupUniqArrayIf((event_id, occurred_at, assumeNotNull(last_qty), last_px, coalesce(ts_filled, occurred_at)),
                     event_type = 'order.fill') AS fills,
    min(occurred_at) AS first_at
FROM audit_events
WHERE (event_type = 'order.accepted' OR (event_type = 'order.fill' AND last_qty > 0)) AND order_id != ''
GROUP BY order_id;
