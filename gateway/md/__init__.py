"""FIX market data for the gateway's clients: MarketDataRequest (35=V) in, 35=W/35=X/35=Y out.

``subscriptions`` and ``entries`` are pure (who wants what; what changed), ``wire`` turns them into
quickfix messages and back, ``fanout`` is the per-process service listening to the quote channels
(``fanout.attach`` registers it on the client acceptor; ``GatewayFix`` does so at start).

What a client gets (from the Redis quotes and books, the layout of the exchange's own feed;
fix_specs/market-data.md has every tag):

* 264 MarketDepth: 1 top of book (from ``quote:SYMBOL``); 0 the full book (10 levels a side) or N = 2..10
  the best N levels (from ``book:SYMBOL``, ADR 023); above 10: 35=Y 281=5.
* 263=1 snapshot + updates: one 35=W per symbol at once (268=0 for a symbol without data yet; levels
  at 290=1..N), then at most one 35=X per subscription per ``fix_md_flush_seconds`` with every change
  since the last one (levels 279=2 Delete deepest first, then 279=0 New / 279=1 Change in ascending
  290, each with 270 and 290; trades 279=0, closing price and volume 279=1);
  265=0 asks for a 35=W per changed symbol instead of 35=X.
* 263=0 snapshot only; 263=2 with the MDReqID of a subscription ends it; logout ends them all.
* Entry types 0 bid, 1 offer, 2 trade, 5 closing price, B volume (none given: 0, 1, 2).
* 35=Y with 262 and Text: 281=0 unknown symbol (the whole request is refused, the unknown ones named),
  1 duplicate MDReqID, 2 more than ``fix_md_max_symbols`` symbols per session (quotes and depth
  together), more than ``fix_md_max_subscriptions`` live MDReqIDs or ``fix_md_max_snapshot_symbols``
  symbols in one 263=0, 5 depth above 10, 6 unsupported MDUpdateType, 8 no supported entry type; no
  281 for unsubscribing an unknown MDReqID, a group that does not match its count, or Redis
  unavailable. A 35=V without MDReqID gets a 35=j.
"""
