-- Best execution by symbol, order type and size bucket, for orders accepted in [from, to) and their fills
-- (up to 30 days after `to`):
-- fill_rate = filled qty / ordered qty; time to fill = receipt → last fill of the order (orders with fills);
-- slippage = qty-weighted (fill price − arrival mid) / arrival mid in basis points, signed so that a positive
-- number is a cost to the client (buys above mid, sells below); at/inside/outside = share of fills at the
-- arrival touch on the order's side (buy at ask, sell at bid), better than it, or worse than it.
-- One pass: the order's accepted event and its fills are grouped by order id (no join).
WITH
per_order AS
(
    SELECT
        order_id,
        anyIf(symbol, event_type = 'order.accepted') AS order_symbol,
        anyIf(ord_type, event_type = 'order.accepted') AS order_type,
        anyIf(side, event_type = 'order.accepted') AS order_side,
        anyIf(toFloat64(qty), event_type = 'order.accepted') AS ordered,
        anyIf(toFloat64(bid), event_type = 'order.accepted') AS arrival_bid,
        anyIf(toFloat64(ask), event_type = 'order.accepted') AS arrival_ask,
        minIf(coalesce(ts_received, occurred_at), event_type = 'order.accepted') AS received,
        countIf(event_type = 'order.fill') AS fill_count,
        sumIf(toFloat64(last_qty), event_type = 'order.fill') AS filled,
        sumIf(toFloat64(last_qty) * toFloat64(last_px), event_type = 'order.fill') AS notional,
        maxIf(coalesce(ts_filled, occurred_at), event_type = 'order.fill') AS last_fill_at,
        groupArrayIf(toFloat64(last_px), event_type = 'order.fill') AS fill_prices
    FROM audit_events FINAL
    WHERE (event_type = 'order.accepted' OR (event_type = 'order.fill' AND last_qty > 0))
      AND order_id != ''
      AND occurred_at >= {from_ts:DateTime64(6, 'UTC')}
      AND occurred_at < {to_ts:DateTime64(6, 'UTC')} + INTERVAL 30 DAY
      AND ({account:String} = '' OR account = {account:String})
      AND ({symbol:String} = '' OR symbol = {symbol:String})
    GROUP BY order_id
    -- orders accepted in the period (an order seen only through fills has no accepted event: minIf gives 1970)
    HAVING received >= {from_ts:DateTime64(6, 'UTC')} AND received < {to_ts:DateTime64(6, 'UTC')}
),
scored AS
(
    SELECT
        *,
        multiIf(ordered < 100, '1-99', ordered < 1000, '100-999', ordered < 10000, '1000-9999', '10000+') AS size_bucket,
        multiIf(ordered < 100, 1, ordered < 1000, 2, ordered < 10000, 3, 4) AS bucket_no,
        if(order_side = 'buy', 1, -1) AS sign,
        isNotNull(arrival_bid) AND isNotNull(arrival_ask) AND fill_count > 0 AS quoted,
        (arrival_bid + arrival_ask) / 2 AS mid,
        if(order_side = 'buy', arrival_ask, arrival_bid) AS touch,
        if(fill_count > 0, dateDiff('microsecond', received, last_fill_at), NULL) AS to_fill_us
    FROM per_order
)
SELECT
    order_symbol AS symbol,
    order_type AS ord_type,
    size_bucket,
    count() AS orders,
    countIf(fill_count > 0) AS orders_filled,
    sum(fill_count) AS fills,
    round(sum(filled) / sum(ordered), 4) AS fill_rate,
    round(quantileExactIf(0.50)(to_fill_us, fill_count > 0) / 1000, 3) AS time_to_fill_p50_ms,
    round(quantileExactIf(0.95)(to_fill_us, fill_count > 0) / 1000, 3) AS time_to_fill_p95_ms,
    round(if(sumIf(mid * filled, quoted) > 0,
             sumIf(sign * (notional - mid * filled), quoted) / sumIf(mid * filled, quoted) * 10000,
             NULL), 2) AS slippage_bps,
    round(if(sumIf(fill_count, quoted) > 0,
             sumIf(arrayCount(p -> p = touch, fill_prices), quoted) / sumIf(fill_count, quoted), NULL), 4) AS at_quote,
    round(if(sumIf(fill_count, quoted) > 0,
             sumIf(arrayCount(p -> sign * (p - touch) < 0, fill_prices), quoted) / sumIf(fill_count, quoted), NULL), 4)
        AS inside_quote,
    round(if(sumIf(fill_count, quoted) > 0,
             sumIf(arrayCount(p -> sign * (p - touch) > 0, fill_prices), quoted) / sumIf(fill_count, quoted), NULL), 4)
        AS outside_quote
FROM scored
GROUP BY symbol, ord_type, size_bucket, bucket_no
ORDER BY symbol, ord_type, bucket_no
-- a re-inserted event has the same occurred_at, hence the same monthly partition: FINAL need not merge across them
SETTINGS do_not_merge_across_partitions_select_final = 1
