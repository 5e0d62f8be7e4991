-- Risk exceptions: rejects by rule, margin calls, liquidations, kill switches and halts in [from, to).
SELECT
    event_type,
    if(rule = '', '-', rule) AS rule,
    count() AS events,
    uniqExactIf(account, account != '') AS accounts,
    uniqExactIf(symbol, symbol != '') AS symbols,
    min(occurred_at) AS first_at,
    max(occurred_at) AS last_at,
    min(reason) AS example_reason
FROM audit_events FINAL
WHERE (event_type = 'order.rejected' OR startsWith(event_type, 'risk.'))
  AND occurred_at >= {from_ts:DateTime64(6, 'UTC')}
  AND occurred_at < {to_ts:DateTime64(6, 'UTC')}
  AND ({account:String} = '' OR account = {account:String})
  AND ({symbol:String} = '' OR symbol = {symbol:String})
GROUP BY event_type, rule
ORDER BY event_type, events DESC, rule
-- a re-inserted event has the same occurred_at, hence the same monthly partition: FINAL need not merge across them
SETTINGS do_not_merge_across_partitions_select_final = 1
