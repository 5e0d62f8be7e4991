"""Margin monitor: periodically and when quotes move, values every margin account at fresh marks, raises and
clears margin calls and, once the grace period is over, liquidates with market orders through the ordinary
order path.

* A margin call is a ``margin_calls`` row with an id (``accounts.margin_call_since`` mirrors its start for
  the REST API); ``risk.margin_call`` events carry the id.
* Valuation needs a fresh quote (``margin_quote_max_age_seconds``) for every held symbol: otherwise nothing
  is decided for the account, and an open call says why in ``margin_calls.valuation`` (e.g. "valuation
  unavailable: stale quote for MSFT ..."), with one ``risk.margin_call`` event per change of that text.
* Liquidation is attempted at most once per call per window (``margin_liquidation_retry_seconds``): one
  ``risk.liquidation`` event per attempt, the attempt counted on the call; a rejected liquidation order is
  therefore not sent again on every look. A liquidation under way is recognised by the account's working
  orders with ``orders.origin = 'system'``, never by a ClOrdID (the ``LIQ-`` ClOrdIDs are only a label the
  client sees on its session).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from audit.events import AuditEvent
from audit.outbox import append_event
from gateway.oms import fix_codec as codec
from gateway.oms.margin import (
    LiquidationStarted,
    MaintenancePolicy,
    MarginCallIssued,
    MarginCallMet,
    MarginWatch,
    Valuation,
    assess,
    fresh_marks,
    liquidation_due,
    liquidation_plan,
    monitor,
)
from gateway.oms.model import ClOrdID, OrdType, TimeInForce
from gateway.oms.origin import SystemOrigin, system_working_orders
from gateway.oms.service import OrderService
from gateway.oms.store import new_id, working_orders
from ledger.fills import Position
from marketdata.quotes import Quote

log = structlog.get_logger(__name__)

__all__ = ["MarginMonitor", "ValuationUnavailable"]

ACTOR = "system:margin_monitor"
_ACCOUNTS = """
SELECT a.account_id, c.amount, m.call_id, m.opened_at, m.valuation, m.last_liquidation_at, m.liquidation_attempts
FROM accounts a JOIN cash_balances c ON c.account_id = a.account_id AND c.currency = a.currency
LEFT JOIN margin_calls m ON m.account_id = a.account_id AND m.status <> 'met'
WHERE a.account_type = 'margin' AND a.status = 'active'
"""


class ValuationUnavailable:
    def __init__(self, account_id: str, text: str) -> None:
        self.account_id, self.text = account_id, text

    def __repr__(self) -> str:
        return f"ValuationUnavailable({self.account_id!r}, {self.text!r})"


class MarginMonitor:
    def __init__(self, pool: asyncpg.Pool, service: OrderService, policy: MaintenancePolicy,
                 interval: float = 60.0, *, quote_max_age: float = 30.0, retry_after: float = 60.0) -> None:
        self.pool = pool
        self.service = service
        self.policy = policy
        self.interval = interval
        self.quote_max_age = quote_max_age
        self.retry_after = timedelta(seconds=retry_after)
        self._busy = asyncio.Lock()
        self._warned: dict[str, str] = {}  # account -> last valuation problem logged (no call open)

    async def check(self, at: datetime | None = None) -> list[object]:
        if self._busy.locked():
            return []  # the periodic and the quote-driven checks never overlap
        async with self._busy:
            return await self._check(at or datetime.now(UTC))

    async def _valuation(self, symbols: list[str], at: datetime) -> Valuation:
        quotes: dict[str, Quote] | None = {}
        reader = self.service.inputs.quotes
        if symbols:
            try:
                quotes = await reader.get_many(symbols) if reader is not None else None
            except Exception:
                quotes = None  # Redis down: never fall back to cost basis
        return fresh_marks(symbols, quotes, int(at.timestamp() * 1_000_000), self.quote_max_age)

    async def _check(self, at: datetime) -> list[object]:
        events: list[object] = []
        for account in await self.pool.fetch(_ACCOUNTS):
            account_id: str = account["account_id"]
            positions = [Position(r["symbol"], r["qty"], r["cost_basis"], r["realized_pnl"], r["blocked_qty"])
                         for r in await self.pool.fetch(
                             "SELECT symbol, qty, cost_basis, realized_pnl, blocked_qty FROM holdings "
                             "WHERE account_id = $1 AND qty <> 0", account_id)]
            call_id: str | None = account["call_id"]
            if not positions and call_id is None:
                continue
            valuation = await self._valuation([p.symbol for p in positions], at)
            if not valuation.available:
                events.append(ValuationUnavailable(account_id, valuation.text))
                await self._unavailable(account_id, call_id, account["valuation"], valuation.text, at)
                continue
            self._warned.pop(account_id, None)
            assessment = assess(account["amount"], positions, valuation.marks, self.policy)
            _, change = monitor(MarginWatch(account["opened_at"]), assessment, at, self.policy)
            if call_id is not None and (change is None or isinstance(change, LiquidationStarted)):
                await self.pool.execute(
                    "UPDATE margin_calls SET equity = $2, requirement = $3, valuation = 'ok', valued_at = $4 "
                    "WHERE call_id = $1", call_id, assessment.equity, assessment.requirement, at)
            if change is None:
                continue
            if isinstance(change, LiquidationStarted):
                assert call_id is not None
                if not liquidation_due(account["last_liquidation_at"], at, self.retry_after):
                    continue  # this call was liquidated within the window: wait for its orders
                if await system_working_orders(self.pool, account_id):
                    continue  # a liquidation is under way
                attempt = account["liquidation_attempts"] + 1
                events.append(change)
                await self._record(account_id, call_id, change, assessment.equity, assessment.requirement, attempt)
                await self._liquidate(account_id, call_id, account["amount"], positions, valuation)
                continue
            events.append(change)
            await self._record(account_id, call_id, change, assessment.equity, assessment.requirement, 0)
        return events

    async def _unavailable(self, account_id: str, call_id: str | None, was: str | None, text: str,
                           at: datetime) -> None:
        if call_id is None:
            if self._warned.get(account_id) != text:
                log.warning("oms.margin_valuation_unavailable", account=account_id, reason=text)
                self._warned[account_id] = text
            return
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE margin_calls SET valuation = $2, valued_at = $3 WHERE call_id = $1",
                               call_id, text, at)
            if was != text:
                await append_event(conn, AuditEvent(
                    "risk.margin_call", account_id=account_id, actor=ACTOR, status="valuation_unavailable",
                    reason=text, extra={"call_id": call_id}))
        if was != text:
            log.warning("oms.margin_valuation_unavailable", account=account_id, call_id=call_id, reason=text)

    async def _record(self, account_id: str, call_id: str | None, change: object, equity: object,
                      requirement: object, attempt: int) -> None:
        figures = {"equity": str(equity), "requirement": str(requirement)}
        async with self.pool.acquire() as conn, conn.transaction():
            if isinstance(change, MarginCallIssued):
                call_id = new_id("M")
                await conn.execute(
                    "INSERT INTO margin_calls (call_id, account_id, status, opened_at, equity, requirement, "
                    "valued_at) VALUES ($1, $2, 'open', $3, $4, $5, $3)", call_id, account_id, change.at,
                    change.equity, change.requirement)
                await conn.execute("UPDATE accounts SET margin_call_since = $2 WHERE account_id = $1",
                                   account_id, change.at)
                event = AuditEvent("risk.margin_call", account_id=account_id, actor=ACTOR, status="issued",
                                   reason=change.text,
                                   extra={**figures, "call_id": call_id, "deficit": str(change.deficit),
                                          "liquidate_after": change.liquidate_after.isoformat()})
            elif isinstance(change, MarginCallMet):
                await conn.execute("UPDATE margin_calls SET status = 'met', closed_at = $2, valuation = 'ok' "
                                   "WHERE call_id = $1", call_id, change.at)
                await conn.execute("UPDATE accounts SET margin_call_since = NULL WHERE account_id = $1", account_id)
                event = AuditEvent("risk.margin_call", account_id=account_id, actor=ACTOR, status="met",
                                   reason="margin call met", extra={**figures, "call_id": call_id})
            else:
                assert isinstance(change, LiquidationStarted)
                await conn.execute(
                    "UPDATE margin_calls SET status = 'liquidating', liquidation_attempts = $2, "
                    "last_liquidation_at = $3 WHERE call_id = $1", call_id, attempt, change.at)
                event = AuditEvent("risk.liquidation", account_id=account_id, actor=ACTOR, status="started",
                                   reason=f"margin call {call_id} unmet since {change.since.isoformat()}",
                                   extra={**figures, "call_id": call_id, "attempt": attempt,
                                          "deficit": str(change.deficit)})
            await append_event(conn, event)
        log.warning("oms.margin", account=account_id, call_id=call_id, change=type(change).__name__)

    async def _liquidate(self, account_id: str, call_id: str, cash: object, positions: list[Position],
                         valuation: Valuation) -> None:
        working = await working_orders(self.pool, account_id)
        for stored in working:  # the client's orders (no system order works here: checked before)
            await self.service.system_cancel(stored, f"margin call {call_id} liquidation")
        session = await self.pool.fetchval(
            "SELECT l.sender_comp_id FROM fix_session_accounts l JOIN fix_sessions s USING (sender_comp_id) "
            "WHERE l.account_id = $1 AND s.kind = 'client' ORDER BY l.is_default DESC LIMIT 1", account_id)
        if session is None:
            log.error("oms.liquidation_no_session", account=account_id, call_id=call_id)
            return
        for _ in range(50):  # the cancels free the blocked shares; wait for them briefly
            if not await working_orders(self.pool, account_id):
                break
            await asyncio.sleep(0.1)
        origin = SystemOrigin(f"margin call {call_id} liquidation", call_id)
        for item in liquidation_plan(cash, positions, valuation.marks, self.policy):  # type: ignore[arg-type]
            cmd = codec.NewOrderCommand(ClOrdID(f"LIQ-{new_id('L')}"), account_id, item.symbol, item.side,
                                        OrdType.MARKET, TimeInForce.DAY, item.qty, None, None, False)
            await self.service.new_order(session, cmd, datetime.now(UTC), actor=ACTOR, origin=origin)
