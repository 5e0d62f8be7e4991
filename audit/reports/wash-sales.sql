-- Wash sales: sells at a loss in [from, to) with a purchase of the same symbol by the same account within
-- 30 days (30 × 24 h) before or after the sale. Replacement shares: purchases in the 30 days AFTER the sale
-- first, then purchases in the 30 days BEFORE it that are still held after the sale (the position after the
-- sale caps them, so the lot being sold never counts as its own replacement).
-- disallowed_loss = loss × replacement_qty / sold_qty; adjusted_basis = cost of the replacement shares +
-- disallowed loss (the loss is added to the basis of the replacement shares).
-- The loss comes from the sell fill's realized_pnl (the ledger's average-cost basis).
-- Each (account, symbol) history is gathered into one time-ordered array (a hash aggregation, no global
-- sort) with running totals; each loss sale reads its windows from its own history's totals only.
WITH
histories AS
(
    SELECT
        account,
        symbol,
        arraySort(x -> (x.1, x.6), groupArray((
            toUnixTimestamp64Micro(occurred_at), side = 'buy', last_qty,
            toDecimal128(assumeNotNull(last_px), 6), realized_pnl, exec_id, occurred_at))) AS fills
    -- the fills with a quantity (audit_fills_mv, ddl.sql): narrow, a fraction of what audit_events holds
    FROM audit_fills FINAL
    WHERE occurred_at < {to_ts:DateTime64(6, 'UTC')} + INTERVAL 30 DAY
      AND ({account:String} = '' OR account = {account:String})
      AND ({symbol:String} = '' OR symbol = {symbol:String})
      -- only a history with a loss sale in the period can hold a wash sale: the others are not gathered at all
      -- (a set on the key's prefix; a duplicate row FINAL would collapse gives the same pair, so no FINAL here)
      AND (account, symbol) IN
      (
          SELECT account, symbol
          FROM audit_fills
          WHERE side != 'buy'
            AND realized_pnl < 0
            AND occurred_at >= {from_ts:DateTime64(6, 'UTC')}
            AND occurred_at < {to_ts:DateTime64(6, 'UTC')}
            AND ({account:String} = '' OR account = {account:String})
            AND ({symbol:String} = '' OR symbol = {symbol:String})
      )
    GROUP BY account, symbol
    HAVING arrayExists(x -> NOT x.2 AND x.5 < 0 AND x.7 >= {from_ts:DateTime64(6, 'UTC')}
                            AND x.7 < {to_ts:DateTime64(6, 'UTC')}, fills)
),
-- Per history, once: the fill times and running totals in time order (prefix sums, 0 first), so each loss
-- sale reads its windows as differences of two prefix sums instead of summing its whole history again.
prefixed AS
(
    SELECT
        account,
        symbol,
        fills,
        arrayMap(x -> x.1, fills) AS times,
        -- the position after each fill: every fill up to and including it (ties ordered by exec id)
        arrayCumSum(x -> if(x.2, x.3, -x.3), fills) AS positions,
        arrayPushFront(arrayCumSum(x -> if(x.2, x.3, toDecimal128(0, 4)), fills), toDecimal128(0, 4)) AS bought,
        arrayPushFront(arrayCumSum(x -> if(x.2, x.3 * x.4, toDecimal128(0, 10)), fills), toDecimal128(0, 10)) AS spent
    FROM histories
),
sales AS
(
    SELECT
        account,
        symbol,
        sale.7 AS sale_at,
        sale.6 AS sale_exec_id,
        sale.3 AS qty,
        sale.4 AS px,
        -toDecimal128(assumeNotNull(sale.5), 4) AS loss,
        -- fills are sorted by time, so "how many fills up to a time" is the index of a window's edge
        arrayCount(t -> t <= sale.1, times) AS upto_sale,
        arrayCount(t -> t <= sale.1 + 2592000000000, times) AS upto_after,
        arrayCount(t -> t < sale.1 - 2592000000000, times) AS before_window,
        arrayCount(t -> t < sale.1, times) AS before_sale,
        bought[upto_after + 1] - bought[upto_sale + 1] AS bought_after,
        spent[upto_after + 1] - spent[upto_sale + 1] AS cost_after,
        bought[before_sale + 1] - bought[before_window + 1] AS bought_before,
        spent[before_sale + 1] - spent[before_window + 1] AS cost_before,
        position_after
    FROM prefixed
    ARRAY JOIN fills AS sale, positions AS position_after
    WHERE NOT sale.2
      AND sale.5 < 0
      AND sale.7 >= {from_ts:DateTime64(6, 'UTC')}
      AND sale.7 < {to_ts:DateTime64(6, 'UTC')}
),
matched AS
(
    SELECT
        *,
        least(qty, bought_after) AS from_after,
        least(qty - least(qty, bought_after), greatest(position_after, toDecimal128(0, 4)), bought_before) AS from_before
    FROM sales
)
SELECT
    sale_at,
    account,
    symbol,
    sale_exec_id,
    qty AS sold_qty,
    px AS sale_px,
    loss,
    from_after + from_before AS replacement_qty,
    toDecimal128(divideDecimal(loss * (from_after + from_before), qty, 2), 2) AS disallowed_loss,
    toDecimal128(
        if(from_after > 0, divideDecimal(cost_after * from_after, bought_after, 4), toDecimal128(0, 4))
        + if(from_before > 0, divideDecimal(cost_before * from_before, bought_before, 4), toDecimal128(0, 4))
        + divideDecimal(loss * (from_after + from_before), qty, 2),
        2
    ) AS adjusted_basis
FROM matched
WHERE from_after + from_before > 0
ORDER BY sale_at, account, symbol
-- a re-inserted event has the same occurred_at, hence the same monthly partition: FINAL need not merge across them
SETTINGS do_not_merge_across_partitions_select_final = 1
