-- Order lifecycle latency: per hour of receipt and per hop, latency percentiles in milliseconds.
-- Hops come from the order's events (accepted: received/risk_checked/committed; acknowledged:
-- routed/acknowledged; first fill: filled); an order is counted in the hour it was received.
WITH orders AS
(
    SELECT
        order_id,
        min(ts_received) AS received,
        min(ts_risk_checked) AS risk_checked,
        min(ts_committed) AS committed,
        min(ts_routed) AS routed,
        min(ts_acknowledged) AS acknowledged,
        min(ts_filled) AS filled
    FROM audit_events FINAL
    WHERE startsWith(event_type, 'order.')
      AND order_id != ''
      AND occurred_at >= {from_ts:DateTime64(6, 'UTC')}
      AND occurred_at < {to_ts:DateTime64(6, 'UTC')} + INTERVAL 1 DAY
      AND ({account:String} = '' OR account = {account:String})
      AND ({symbol:String} = '' OR symbol = {symbol:String})
    GROUP BY order_id
    HAVING received >= {from_ts:DateTime64(6, 'UTC')} AND received < {to_ts:DateTime64(6, 'UTC')}
)
SELECT
    toStartOfHour(assumeNotNull(received)) AS hour,
    hop,
    count() AS orders,
    round(quantileExact(0.50)(us) / 1000, 3) AS p50_ms,
    round(quantileExact(0.95)(us) / 1000, 3) AS p95_ms,
    round(quantileExact(0.99)(us) / 1000, 3) AS p99_ms,
    round(max(us) / 1000, 3) AS max_ms
FROM orders
ARRAY JOIN
    [1, 2, 3, 4, 5, 6] AS hop_no,
    ['received→risk', 'risk→committed', 'committed→routed', 'routed→acked', 'acked→filled', 'received→filled'] AS hop,
    [
        dateDiff('microsecond', received, risk_checked),
        dateDiff('microsecond', risk_checked, committed),
        dateDiff('microsecond', committed, routed),
        dateDiff('microsecond', routed, acknowledged),
        dateDiff('microsecond', acknowledged, filled),
        dateDiff('microsecond', received, filled)
    ] AS us
WHERE us IS NOT NULL
GROUP BY hour, hop_no, hop
ORDER BY hour, hop_no
-- a re-inserted event has the same occurred_at, hence the same monthly partition: FINAL need not merge across them
SETTINGS do_not_merge_across_partitions_select_final = 1
