-- Wash sales: sells at a loss in [from, to) with a purchase of the same symbol by the same account within
-- 30 days (30 × 24 h) before or after the sale. Replacement shares: purchases in the 30 days AFTER the sale
-- first, then purchases in the 30 days BEFORE it that are still held after the sale (the position after the
-- sale caps them, so the lot being sold never counts as its own replacement).
-- disallowed_loss = loss × replacement_qty / sold_qty; adjusted_basis = cost of the replacement shares +
-- disallowed loss (the loss is added to the basis of the replacement shares).
-- The loss comes from the sell fill's realized_pnl (the ledger's average-cost basis).
WITH
loss_pairs AS  -- only (account, symbol) pairs with a loss sale in the period need their fills windowed
(
    SELECT DISTINCT account, symbol
    FROM audit_events FINAL
    WHERE event_type = 'order.fill'
      AND side = 'sell'
      AND realized_pnl < 0
      AND occurred_at >= {from_ts:DateTime64(6, 'UTC')}
      AND occurred_at < {to_ts:DateTime64(6, 'UTC')}
      AND ({account:String} = '' OR account = {account:String})
      AND ({symbol:String} = '' OR symbol = {symbol:String})
),
fills AS
(
    SELECT
        occurred_at, account, symbol, side, exec_id, order_id, realized_pnl,
        toDecimal128(assumeNotNull(last_qty), 4) AS qty,
        toDecimal128(assumeNotNull(last_px), 6) AS px,
        intDiv(toUnixTimestamp64Milli(occurred_at), 10) AS t  -- centiseconds: RANGE offsets must fit Int32
    FROM audit_events FINAL
    WHERE event_type = 'order.fill'
      AND last_qty > 0
      AND occurred_at < {to_ts:DateTime64(6, 'UTC')} + INTERVAL 30 DAY
      AND (account, symbol) IN loss_pairs
),
windows AS
(
    SELECT
        *,
        sum(if(side = 'buy', qty, toDecimal128(0, 4))) OVER after_sale AS bought_after,
        sum(if(side = 'buy', qty * px, toDecimal128(0, 10))) OVER after_sale AS cost_after,
        sum(if(side = 'buy', qty, toDecimal128(0, 4))) OVER before_sale AS bought_before,
        sum(if(side = 'buy', qty * px, toDecimal128(0, 10))) OVER before_sale AS cost_before,
        sum(if(side = 'buy', qty, -qty)) OVER position AS position_after
    FROM fills
    WINDOW
        after_sale AS (PARTITION BY account, symbol ORDER BY t RANGE BETWEEN 1 FOLLOWING AND 259200000 FOLLOWING),
        before_sale AS (PARTITION BY account, symbol ORDER BY t RANGE BETWEEN 259200000 PRECEDING AND 1 PRECEDING),
        position AS (PARTITION BY account, symbol ORDER BY t ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
sales AS
(
    SELECT
        *,
        least(qty, bought_after) AS from_after,
        least(qty - least(qty, bought_after), greatest(position_after, toDecimal128(0, 4)), bought_before) AS from_before,
        -toDecimal128(assumeNotNull(realized_pnl), 4) AS loss
    FROM windows
    WHERE side = 'sell'
      AND realized_pnl < 0
      AND occurred_at >= {from_ts:DateTime64(6, 'UTC')}
      AND occurred_at < {to_ts:DateTime64(6, 'UTC')}
)
SELECT
    occurred_at AS sale_at,
    account,
    symbol,
    exec_id AS sale_exec_id,
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
FROM sales
WHERE from_after + from_before > 0
ORDER BY sale_at, account, symbol
