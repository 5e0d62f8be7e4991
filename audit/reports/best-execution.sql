-- Best execution by symbol, order type and size bucket, for orders accepted in [from, to) and their fills
-- (up to 30 days after `to`):
-- fill_rate = filled qty / ordered qty; time to fill = receipt → last fill of the order (orders with fills);
-- slippage = qty-weighted (fill price − arrival mid) / arrival mid in basis points, signed so that a positive
-- number is a cost to the client (buys above mid, sells below); at/inside/outside = share of fills at the
-- arrival touch on the order's side (buy at ask, sell at bid), better than it, or worse than it.
-- Per order, one row of audit_orders (audit_orders_mv, ddl.sql: the accepted event's fields and the set of the
-- order's fills, kept at insert), so no aggregation over the events here; the fills are then limited to the
-- report's window. The filters apply to the order (its accepted event's account and symbol).
WITH
per_order AS
(
    SELECT
        order_id,
        assumeNotNull(symbol) AS order_symbol,
        assumeNotNull(ord_type) AS order_type,
        assumeNotNull(side) AS order_side,
        toFloat64(qty) AS ordered,
        toFloat64(bid) AS arrival_bid,
        toFloat64(ask) AS arrival_ask,
        assumeNotNull(received) AS received,
        arrayFilter(f -> f.at >= {from_ts:DateTime64(6, 'UTC')}
                         AND f.at < {to_ts:DateTime64(6, 'UTC')} + INTERVAL 30 DAY, fills) AS in_window,
        arrayFilter(f -> isNotNull(f.px), in_window) AS priced,
        length(in_window) AS fill_count,
        -- NULL without fills (as a sum over no rows): fill_rate's sums skip the order rather than add 0
        if(fill_count > 0, arraySum(f -> toFloat64(f.qty), in_window), NULL) AS filled,
        if(length(priced) > 0, arraySum(f -> toFloat64(f.qty) * toFloat64(assumeNotNull(f.px)), priced), NULL)
            AS notional,
        arrayMax(f -> f.filled_at, in_window) AS last_fill_at,
        arrayMap(f -> toFloat64(assumeNotNull(f.px)), priced) AS fill_prices
    FROM audit_orders FINAL
    -- orders accepted in the period (an order seen only through fills has no accepted event: NULL, left out)
    WHERE accepted_at >= {from_ts:DateTime64(6, 'UTC')}
      AND accepted_at < {to_ts:DateTime64(6, 'UTC')} + INTERVAL 30 DAY
      AND received >= {from_ts:DateTime64(6, 'UTC')}
      AND received < {to_ts:DateTime64(6, 'UTC')}
      AND ({account:String} = '' OR account = {account:String})
      AND ({symbol:String} = '' OR symbol = {symbol:String})
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
