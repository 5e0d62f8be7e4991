"""FIX market data for the gateway's clients: MarketDataRequest (35=V) in, 35=W/35=X/35=Y out.

``subscriptions`` and ``entries`` are pure (who wants what; what changed), ``wire`` turns them into
quickfix messages and back, ``fanout`` is the per-process service listening to the quote channels.
"""
