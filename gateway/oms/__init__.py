"""Order management core, pure (no I/O): the FIX 4.4 order state machine (``order_fsm``, ``order_events``,
``model``), admission of duplicates and resends (``admission``), static validation (``validation``),
pre-trade risk (``risk``, ``risk_config``), the composed new-order decision (``entry``), kill switches,
session rate limit, market hours, market-wide circuit breaker, and the margin monitor (``margin``).
See docs/adr/002-order-state-machine-and-pre-trade-risk.md.
"""
