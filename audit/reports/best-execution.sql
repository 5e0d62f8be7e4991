-- Best execution by symbol, order type and size bucket, for orders accepted in [from, to):
-- fill_rate = filled qty / ordered qty; time to fill = receipt → last fill of the order (orders with fills);
-- slippage = qty-weighted (fill price − arrival mid) / arrival mid in basis points, signed so that a positive
-- number is a cost to the client (buys above mid, sells below); at/inside/outside = share of fills at the
-- arrival touch on the order's side (buy at ask, sell at bid), better than it, or worse than it.
WITH
orders AS
(
    SELECT
        order_id,
        symbol,
        ord_type,
        side,
        toDecimal128(assumeNotNull(any(qty)), 4) AS qty,
        any(bid) AS bid,
        any(ask) AS ask,
        min(coalesce(ts_received, occurred_at)) AS received
    FROM audit_events FINAL
    WHERE event_type = 'order.accepted'
      AND order_id != ''
      AND occurred_at >= {from_ts:DateTime64(6, 'UTC')}
      AND occurred_at < {to_ts:DateTime64(6, 'UTC')}
      AND ({account:String} = '' OR account = {account:String})
      AND ({symbol:String} = '' OR symbol = {symbol:String})
    GROUP BY order_id, symbol, ord_type, side
),
fills AS
(
    SELECT
        order_id AS fill_order_id,
        toDecimal128(assumeNotNull(last_qty), 4) AS fill_qty,
        toDecimal128(assumeNotNull(last_px), 6) AS fill_px,
        coalesce(ts_filled, occurred_at) AS filled_at
    FROM audit_events FINAL
    WHERE event_type = 'order.fill'
      AND last_qty > 0
      AND occurred_at >= {from_ts:DateTime64(6, 'UTC')}
      AND order_id IN (SELECT order_id FROM orders)
),
bucketed AS
(
    SELECT
        *,
        multiIf(qty < 100, '1-99', qty < 1000, '100-999', qty < 10000, '1000-9999', '10000+') AS size_bucket,
        multiIf(qty < 100, 1, qty < 1000, 2, qty < 10000, 3, 4) AS bucket_no
    FROM orders
),
per_order AS
(
    SELECT
        o.symbol AS symbol, o.ord_type AS ord_type, o.size_bucket AS size_bucket, o.bucket_no AS bucket_no,
        o.order_id AS order_id, any(o.qty) AS ordered,
        sumIf(f.fill_qty, f.fill_order_id != '') AS filled,
        if(countIf(f.fill_order_id != '') > 0,
           dateDiff('microsecond', any(o.received), maxIf(f.filled_at, f.fill_order_id != '')), NULL) AS to_fill_us
    FROM bucketed AS o
    LEFT JOIN fills AS f ON f.fill_order_id = o.order_id
    GROUP BY o.symbol, o.ord_type, o.size_bucket, o.bucket_no, o.order_id
),
per_fill AS
(
    SELECT
        o.symbol AS symbol, o.ord_type AS ord_type, o.size_bucket AS size_bucket,
        if(o.side = 'buy', 1, -1) AS sign,
        toFloat64(f.fill_qty) AS q,
        toFloat64(f.fill_px) AS px,
        (toFloat64(o.bid) + toFloat64(o.ask)) / 2 AS mid,
        multiIf(o.bid IS NULL OR o.ask IS NULL, 'none',
                f.fill_px = if(o.side = 'buy', o.ask, o.bid), 'at',
                sign * (toFloat64(f.fill_px) - toFloat64(if(o.side = 'buy', o.ask, o.bid))) < 0, 'inside',
                'outside') AS vs_quote
    FROM fills AS f
    INNER JOIN bucketed AS o ON f.fill_order_id = o.order_id
),
order_stats AS
(
    SELECT
        symbol, ord_type, size_bucket, bucket_no,
        count() AS orders,
        countIf(filled > 0) AS orders_filled,
        round(toFloat64(sum(filled)) / toFloat64(sum(ordered)), 4) AS fill_rate,
        round(quantileExactIf(0.50)(to_fill_us, to_fill_us IS NOT NULL) / 1000, 3) AS time_to_fill_p50_ms,
        round(quantileExactIf(0.95)(to_fill_us, to_fill_us IS NOT NULL) / 1000, 3) AS time_to_fill_p95_ms
    FROM per_order
    GROUP BY symbol, ord_type, size_bucket, bucket_no
),
fill_stats AS
(
    SELECT
        symbol, ord_type, size_bucket,
        count() AS fills,
        round(sumIf(sign * (px - mid) * q, mid > 0) / sumIf(mid * q, mid > 0) * 10000, 2) AS slippage_bps,
        round(countIf(vs_quote = 'at') / countIf(vs_quote != 'none'), 4) AS at_quote,
        round(countIf(vs_quote = 'inside') / countIf(vs_quote != 'none'), 4) AS inside_quote,
        round(countIf(vs_quote = 'outside') / countIf(vs_quote != 'none'), 4) AS outside_quote
    FROM per_fill
    GROUP BY symbol, ord_type, size_bucket
)
SELECT
    s.symbol AS symbol, s.ord_type AS ord_type, s.size_bucket AS size_bucket,
    s.orders AS orders, s.orders_filled AS orders_filled, f.fills AS fills, s.fill_rate AS fill_rate,
    s.time_to_fill_p50_ms AS time_to_fill_p50_ms, s.time_to_fill_p95_ms AS time_to_fill_p95_ms,
    f.slippage_bps AS slippage_bps, f.at_quote AS at_quote, f.inside_quote AS inside_quote,
    f.outside_quote AS outside_quote
FROM order_stats AS s
LEFT JOIN fill_stats AS f ON f.symbol = s.symbol AND f.ord_type = s.ord_type AND f.size_bucket = s.size_bucket
ORDER BY symbol, ord_type, s.bucket_no
