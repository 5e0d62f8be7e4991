-- Blotter: every order event and fill in [from, to), oldest first, with ids, side, qty, price, status,
-- reject rule/reason and the per-hop timestamps.
SELECT
    occurred_at,
    event_type,
    account,
    symbol,
    side,
    ord_type,
    cl_ord_id,
    order_id,
    exec_id,
    qty,
    price,
    last_qty,
    last_px,
    status,
    rule AS reject_rule,
    reason AS reject_reason,
    actor,
    ts_received,
    ts_committed,
    ts_acknowledged,
    ts_filled
FROM audit_events FINAL
WHERE startsWith(event_type, 'order.')
  AND occurred_at >= {from_ts:DateTime64(6, 'UTC')}
  AND occurred_at < {to_ts:DateTime64(6, 'UTC')}
  AND ({account:String} = '' OR account = {account:String})
  AND ({symbol:String} = '' OR symbol = {symbol:String})
ORDER BY occurred_at, event_id
-- a re-inserted event has the same occurred_at, hence the same monthly partition: FINAL need not merge across them
SETTINGS do_not_merge_across_partitions_select_final = 1
