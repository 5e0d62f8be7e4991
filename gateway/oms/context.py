"""Gathers what the pure risk check needs, inside the order-entry transaction (account row locked)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from brokerage.settings import Settings
from gateway.oms.config import risk_limits
from gateway.oms.margin import Valuation, fresh_marks
from gateway.oms.market_hours import MarketStatus, load_calendar, market_status
from gateway.oms.risk_config import RiskContext, RiskLimits
from gateway.oms.store import Controls, OpenExposure, load_controls, open_exposure
from ledger.fills import AccountType, Position
from ledger.journal_store import Conn, LockedAccount, load_positions, lock_cash
from ledger.reservations import CashBalance
from marketdata.quotes import Quote
from marketdata.redis_quotes import QuoteReader

__all__ = ["RiskInputs"]

_OPEN = "('pending_new', 'new', 'partially_filled', 'pending_cancel', 'pending_replace')"
# Everything risk reads, in one round trip: the cash row (locked), holdings, open exposure, controls; and
# whether the session already used the new order's ClOrdID (so the duplicate lookup runs only then).
_CONTEXT = f"""
SELECT c.amount, c.blocked,
       (SELECT json_agg(json_build_object('symbol', h.symbol, 'qty', h.qty::text, 'cost_basis', h.cost_basis::text,
                                          'realized_pnl', h.realized_pnl::text, 'blocked_qty', h.blocked_qty::text))
        FROM holdings h WHERE h.account_id = $1)::text AS holdings,
       (SELECT count(*) FROM orders o WHERE o.account_id = $1 AND o.status IN {_OPEN})::int AS open_orders,
       (SELECT coalesce(sum(leaves_qty), 0) FROM orders o WHERE o.account_id = $1 AND o.symbol = $3
          AND o.side = 'buy' AND o.status IN {_OPEN}) AS open_buys,
       (SELECT coalesce(sum(leaves_qty), 0) FROM orders o WHERE o.account_id = $1 AND o.symbol = $3
          AND o.side <> 'buy' AND o.status IN {_OPEN}) AS open_sells,
       coalesce((SELECT engaged FROM trading_controls WHERE name = 'kill_switch'), false) AS global_kill,
       coalesce((SELECT engaged FROM trading_controls WHERE name = 'halt'), false) AS halted,
       (SELECT reason FROM trading_controls WHERE name = 'halt') AS halt_reason,
       EXISTS (SELECT 1 FROM order_cl_ord_ids k WHERE k.session_id = $4 AND k.cl_ord_id = $5
               AND k.trading_day >= $6) AS cl_ord_id_used
FROM cash_balances c WHERE c.account_id = $1 AND c.currency = $2 FOR UPDATE OF c
"""


@dataclass
class _Hours:
    status: MarketStatus
    until: float


class RiskInputs:
    def __init__(self, settings: Settings, quotes: QuoteReader | None) -> None:
        self.settings = settings
        self.quotes = quotes
        self._limits = {flag: risk_limits(settings, short_selling=flag) for flag in (False, True)}
        self._hours: _Hours | None = None

    def limits(self, account: LockedAccount) -> RiskLimits:
        return self._limits[account.short_selling_enabled]

    async def quote(self, symbol: str) -> Quote | None:
        if self.quotes is None:
            return None
        with contextlib.suppress(Exception):  # Redis down: no reference price, limit orders still pass
            return await self.quotes.get(symbol)
        return None

    async def quotes_of(self, symbols: list[str]) -> dict[str, Quote]:
        """Several symbols' quotes in one round trip (a batch of orders); Redis down: none."""
        if self.quotes is None or not symbols:
            return {}
        with contextlib.suppress(Exception):
            return await self.quotes.get_many(sorted(set(symbols)))
        return {}

    async def marks(self, symbols: list[str]) -> dict[str, Decimal]:
        if self.quotes is None or not symbols:
            return {}
        try:
            quotes = await self.quotes.get_many(symbols)
        except Exception:
            return {}
        return {s: q.mark for s, q in quotes.items() if q.mark is not None}

    async def fresh_marks(self, symbols: list[str]) -> Valuation:
        """Marks no older than ``margin_quote_max_age_seconds``, or why the holdings cannot be valued."""
        quotes: dict[str, Quote] | None = {}
        if symbols:
            try:
                quotes = await self.quotes.get_many(symbols) if self.quotes is not None else None
            except Exception:
                quotes = None
        return fresh_marks(symbols, quotes, time.time_ns() // 1000, self.settings.margin_quote_max_age_seconds)

    def market(self) -> MarketStatus:
        now = time.monotonic()
        if self._hours is None or now >= self._hours.until:
            if self.settings.trading_24h:
                status = MarketStatus(True, "24-hour trading is enabled")
            else:
                status = market_status(load_calendar(), datetime.now(UTC))
            self._hours = _Hours(status, now + 1.0)
        return self._hours.status

    async def context(self, conn: Conn, account: LockedAccount, symbol: str, quote: Quote | None,
                      ) -> tuple[RiskContext, Controls]:
        ctx, controls, _ = await self.context_for_new(conn, account, symbol, quote, None, None)
        return ctx, controls

    async def context_for_new(self, conn: Conn, account: LockedAccount, symbol: str, quote: Quote | None,
                              session_id: str | None, cl_ord_id: str | None, since: date = date.min,
                              ) -> tuple[RiskContext, Controls, bool]:
        """``context``, and whether ``session_id`` already used ``cl_ord_id`` on trading day ``since`` or later
        (True when unsure)."""
        row = await conn.fetchrow(_CONTEXT, account.account_id, account.currency, symbol, session_id, cl_ord_id,
                                  since)
        used = True
        if row is None:  # no cash row yet: the ledger's own path creates it
            cash = await lock_cash(conn, account)
            positions = await load_positions(conn, account.account_id)
            exposure = await open_exposure(conn, account.account_id, symbol)
            controls = await load_controls(conn)
        else:
            cash = CashBalance(row["amount"], row["blocked"], account.currency)
            positions = [Position(h["symbol"], Decimal(h["qty"]), Decimal(h["cost_basis"]),
                                  Decimal(h["realized_pnl"]), Decimal(h["blocked_qty"]))
                         for h in json.loads(row["holdings"] or "[]")]
            exposure = OpenExposure(row["open_orders"], row["open_buys"], row["open_sells"])
            controls = Controls(row["global_kill"], row["halted"], row["halt_reason"] or "")
            used = bool(row["cl_ord_id_used"])
        position = next((p for p in positions if p.symbol == symbol), Position(symbol))
        marks: Mapping[str, Decimal] = {}
        valuation_problem = ""
        if account.account_type is AccountType.MARGIN:  # margin buying power: fresh marks only (ADR 012)
            valuation = await self.fresh_marks([p.symbol for p in positions if p.qty])
            marks, valuation_problem = valuation.marks, "" if valuation.available else valuation.text
        hours = self.market()
        ctx = RiskContext(
            account_type=account.account_type, cash=cash, position=position, quote=quote,
            now_us=time.time_ns() // 1000, positions=tuple(positions), marks=marks,
            open_orders=exposure.open_orders, open_buy_qty=exposure.open_buy_qty,
            open_sell_qty=exposure.open_sell_qty, account_killed=account.kill_switch,
            global_killed=controls.global_kill, halted=controls.halted, halt_reason=controls.halt_reason,
            market_open=hours.open,
            market_note=hours.reason, valuation_problem=valuation_problem,
        )
        return ctx, controls, used
