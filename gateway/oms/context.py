"""Gathers what the pure risk check needs, inside the order-entry transaction (account row locked)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from brokerage.settings import Settings
from gateway.oms.config import risk_limits
from gateway.oms.margin import QUOTE_STORE_DOWN, Valuation, fresh_marks
from gateway.oms.market_hours import MarketStatus, load_calendar, market_status
from gateway.oms.model import Side
from gateway.oms.order_fsm import Order
from gateway.oms.quote_reads import SharedQuoteReads
from gateway.oms.risk_config import RiskContext, RiskLimits
from gateway.oms.store import Controls, OpenExposure, load_controls, open_exposure
from ledger.fills import AccountType, Position
from ledger.journal_store import Conn, LockedAccount, load_positions, lock_cash
from ledger.posting_batch import PostingBatch
from ledger.reservations import CashBalance
from marketdata.quotes import Quote
from marketdata.redis_quotes import QuoteReader

__all__ = ["NewOrderBatch", "RiskInputs"]

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


# What risk reads for a whole batch of one session's new orders, in one statement, with the batch's accounts
# locked (so nothing it reads can change under it, and no FOR UPDATE is needed): cash rows (c), every holding
# (h), open orders' count and leaves per symbol and side (b/s), controls (t), and which of the batch's
# ClOrdIDs the session used on ``since`` or later (u).
_BATCH = f"""
SELECT 'c' AS k, c.account_id AS a, c.currency AS s, c.amount AS n1, c.blocked AS n2, NULL::numeric AS n3,
       NULL::numeric AS n4, NULL::date AS d
  FROM cash_balances c JOIN accounts a USING (account_id)
 WHERE c.account_id = ANY($1::text[]) AND c.currency = a.currency
UNION ALL
SELECT 'h', account_id, symbol, qty, cost_basis, realized_pnl, blocked_qty, NULL FROM holdings
 WHERE account_id = ANY($1::text[])
UNION ALL
SELECT CASE WHEN o.buy THEN 'b' ELSE 's' END, o.account_id, o.symbol, count(*), sum(o.leaves_qty), NULL, NULL, NULL
  FROM (SELECT account_id, symbol, side = 'buy' AS buy, leaves_qty FROM orders
         WHERE account_id = ANY($1::text[]) AND status IN {_OPEN}) o GROUP BY o.account_id, o.symbol, o.buy
UNION ALL
SELECT 't', name, reason, engaged::int, NULL, NULL, NULL, NULL FROM trading_controls
 WHERE name IN ('kill_switch', 'halt')
UNION ALL
SELECT 'u', NULL, cl_ord_id, NULL, NULL, NULL, NULL, trading_day FROM order_cl_ord_ids
 WHERE session_id = $2 AND cl_ord_id = ANY($3::text[]) AND trading_day >= $4
"""


@dataclass(repr=False)
class NewOrderBatch:
    """A batch of new orders' risk inputs, read once (``RiskInputs.read_batch``) and kept current in memory
    as the batch accepts orders: cash and holdings live in the batch's ``PostingBatch``; here the open
    orders, controls and the ClOrdIDs used (with the orders this batch entered under them)."""

    ledger: PostingBatch
    open_orders: dict[str, int]
    open_qty: dict[tuple[str, str, bool], Decimal]  # (account, symbol, buy) -> leaves of open orders
    controls: Controls
    used: dict[str, date]  # ClOrdID -> latest trading day the session used it
    read_holdings: set[tuple[str, str]]  # holdings that have a row (a flat default is not one)
    entered: dict[str, Order] = field(default_factory=dict)  # ClOrdID -> order entered by this batch
    # margin valuations read during this batch, by the symbols valued: the batch holds its accounts locked,
    # so the quote store is asked once per set of holdings, and not again once it failed (ADR 048)
    valuations: dict[tuple[str, ...], Valuation] = field(default_factory=dict)

    def __repr__(self) -> str:  # short: error tracebacks render their frames' locals
        return f"NewOrderBatch({len(self.open_orders)} accounts, {len(self.entered)} orders entered)"

    def used_since(self, cl_ord_id: str, since: date) -> bool:
        day = self.used.get(cl_ord_id)
        return day is not None and day >= since

    def accepted(self, order: Order, day: date) -> None:
        """An order this batch entered: it counts as open, and its ClOrdID as used."""
        account, buy = order.account_id, order.side is Side.BUY
        self.open_orders[account] = self.open_orders.get(account, 0) + 1
        key = (account, order.symbol, buy)
        self.open_qty[key] = self.open_qty.get(key, Decimal(0)) + order.leaves_qty
        self.used[order.cl_ord_id] = max(day, self.used.get(order.cl_ord_id, day))
        self.entered[order.cl_ord_id] = order


@dataclass
class _Hours:
    status: MarketStatus
    until: float


class RiskInputs:
    def __init__(self, settings: Settings, quotes: QuoteReader | None) -> None:
        self.settings = settings
        self.quotes = quotes
        self._shared: SharedQuoteReads | None = None  # new-order batches' reads, sharing round trips
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
        if self._shared is None or self._shared.reader is not self.quotes:
            self._shared = SharedQuoteReads(self.quotes)
        with contextlib.suppress(Exception):
            return await self._shared.get_many(sorted(set(symbols)))
        return {}

    async def marks(self, symbols: list[str]) -> dict[str, Decimal]:
        if self.quotes is None or not symbols:
            return {}
        try:
            quotes = await self.quotes.get_many(symbols)
        except Exception:
            return {}
        return {s: q.mark for s, q in quotes.items() if q.mark is not None}

    async def fresh_marks(self, symbols: list[str],
                          memo: dict[tuple[str, ...], Valuation] | None = None) -> Valuation:
        """Marks no older than ``margin_quote_max_age_seconds``, or why the holdings cannot be valued.
        ``memo``: valuations already read in this transaction (a new-order batch's), reused; after a failed read
        the quote store is not asked again, so a stalled Redis delays a locked batch once, not once per order."""
        if memo is not None:
            key = tuple(sorted(set(symbols)))
            valuation = memo.get(key)
            if valuation is None:
                down = any(QUOTE_STORE_DOWN in v.problems for v in memo.values())
                valuation = memo[key] = fresh_marks(key, None, 0, 0) if down else await self.fresh_marks(list(key))
            return valuation
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

    async def read_batch(self, conn: Conn, accounts: list[LockedAccount], ledger: PostingBatch, session_id: str,
                         cl_ord_ids: list[str], since: date) -> NewOrderBatch:
        """A new-order batch's risk inputs in one statement (``accounts`` already locked by this transaction);
        cash and holdings go into ``ledger``. An account with no cash row yet gets one (``lock_cash``)."""
        rows = await conn.fetch(_BATCH, [a.account_id for a in accounts], session_id, cl_ord_ids, since)
        open_orders: dict[str, int] = {}
        open_qty: dict[tuple[str, str, bool], Decimal] = {}
        used: dict[str, date] = {}
        kill = halt = False
        halt_reason = ""
        state = [r for r in rows if r["k"] in ("c", "h")]
        for r in rows:
            kind = r["k"]
            if kind in ("b", "s"):
                open_orders[r["a"]] = open_orders.get(r["a"], 0) + int(r["n1"])
                open_qty[(r["a"], r["s"], kind == "b")] = r["n2"]
            elif kind == "t":
                if r["a"] == "kill_switch":
                    kill = bool(r["n1"])
                else:
                    halt, halt_reason = bool(r["n1"]), r["s"] or ""
            elif kind == "u":
                used[r["s"]] = max(r["d"], used.get(r["s"], r["d"]))
        ledger.load(state, [])
        for account in accounts:
            if not ledger.has_cash(account.account_id):  # no cash row yet: the ledger's own path creates it
                ledger.cash[account.account_id] = await lock_cash(conn, account)
        return NewOrderBatch(ledger, open_orders, open_qty, Controls(kill, halt, halt_reason), used,
                             {(r["a"], r["s"]) for r in state if r["k"] == "h"})

    async def context_in_batch(self, batch: NewOrderBatch, account: LockedAccount, symbol: str,
                               quote: Quote | None) -> RiskContext:
        """``context`` from a batch's state as its earlier orders left it (no statement)."""
        account_id = account.account_id
        positions = [p for (a, _), p in batch.ledger.positions.items()
                     if a == account_id and (a, p.symbol) in batch.read_holdings]
        position = batch.ledger.positions.get((account_id, symbol)) or Position(symbol)
        exposure = OpenExposure(batch.open_orders.get(account_id, 0),
                                batch.open_qty.get((account_id, symbol, True), Decimal(0)),
                                batch.open_qty.get((account_id, symbol, False), Decimal(0)))
        return await self._context(account, symbol, quote, batch.ledger.cash[account_id], positions, position,
                                   exposure, batch.controls, batch.valuations)

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
        ctx = await self._context(account, symbol, quote, cash, positions, position, exposure, controls)
        return ctx, controls, used

    async def _context(self, account: LockedAccount, symbol: str, quote: Quote | None, cash: CashBalance,
                       positions: list[Position], position: Position, exposure: OpenExposure, controls: Controls,
                       valuations: dict[tuple[str, ...], Valuation] | None = None) -> RiskContext:
        marks: Mapping[str, Decimal] = {}
        valuation_problem = ""
        if account.account_type is AccountType.MARGIN:  # margin buying power: fresh marks only (ADR 012)
            valuation = await self.fresh_marks([p.symbol for p in positions if p.qty], valuations)
            marks, valuation_problem = valuation.marks, "" if valuation.available else valuation.text
        hours = self.market()
        return RiskContext(
            account_type=account.account_type, cash=cash, position=position, quote=quote,
            now_us=time.time_ns() // 1000, positions=tuple(positions), marks=marks,
            open_orders=exposure.open_orders, open_buy_qty=exposure.open_buy_qty,
            open_sell_qty=exposure.open_sell_qty, account_killed=account.kill_switch,
            global_killed=controls.global_kill, halted=controls.halted, halt_reason=controls.halt_reason,
            market_open=hours.open,
            market_note=hours.reason, valuation_problem=valuation_problem,
        )
