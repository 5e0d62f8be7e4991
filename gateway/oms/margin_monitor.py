"""Margin monitor: periodically and when quotes move, values every margin account at live marks, raises and
clears margin calls (``accounts.margin_call_since``, ``risk.margin_call`` events) and, once the grace period is over,
liquidates with market orders through the ordinary order path (``risk.liquidation`` event; the orders
carry ClOrdIDs ``LIQ-…`` on the account's FIX session, so the client sees them).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

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
    assess,
    liquidation_plan,
    monitor,
)
from gateway.oms.model import ClOrdID, OrdType, TimeInForce
from gateway.oms.service import OrderService
from gateway.oms.store import new_id, working_orders
from ledger.fills import Position

log = structlog.get_logger(__name__)

__all__ = ["MarginMonitor"]


class MarginMonitor:
    def __init__(self, pool: asyncpg.Pool, service: OrderService, policy: MaintenancePolicy,
                 interval: float = 60.0) -> None:
        self.pool = pool
        self.service = service
        self.policy = policy
        self.interval = interval
        self._busy = asyncio.Lock()

    async def check(self, at: datetime | None = None) -> list[object]:
        if self._busy.locked():
            return []  # the periodic and the quote-driven checks never overlap
        async with self._busy:
            return await self._check(at or datetime.now(UTC))

    async def _check(self, at: datetime) -> list[object]:
        events: list[object] = []
        accounts = await self.pool.fetch(
            "SELECT a.account_id, a.margin_call_since, c.amount FROM accounts a JOIN cash_balances c "
            "ON c.account_id = a.account_id AND c.currency = a.currency WHERE a.account_type = 'margin' "
            "AND a.status = 'active'")
        for account in accounts:
            positions = [Position(r["symbol"], r["qty"], r["cost_basis"], r["realized_pnl"], r["blocked_qty"])
                         for r in await self.pool.fetch(
                             "SELECT symbol, qty, cost_basis, realized_pnl, blocked_qty FROM holdings "
                             "WHERE account_id = $1 AND qty <> 0", account["account_id"])]
            if not positions and account["margin_call_since"] is None:
                continue
            marks = await self.service.inputs.marks([p.symbol for p in positions])
            assessment = assess(account["amount"], positions, marks, self.policy)
            _, change = monitor(MarginWatch(account["margin_call_since"]), assessment, at, self.policy)
            if change is None:
                continue
            events.append(change)
            await self._record(account["account_id"], change, assessment.equity, assessment.requirement)
            if isinstance(change, LiquidationStarted):
                await self._liquidate(account["account_id"], account["amount"], positions, marks)
        return events

    async def _record(self, account_id: str, change: object, equity: object, requirement: object) -> None:
        figures = {"equity": str(equity), "requirement": str(requirement)}
        async with self.pool.acquire() as conn, conn.transaction():
            if isinstance(change, MarginCallIssued):
                await conn.execute("UPDATE accounts SET margin_call_since = $2 WHERE account_id = $1",
                                   account_id, change.at)
                event = AuditEvent("risk.margin_call", account_id=account_id, actor="system:margin_monitor",
                                   status="issued", reason=change.text,
                                   extra={**figures, "deficit": str(change.deficit),
                                          "liquidate_after": change.liquidate_after.isoformat()})
            elif isinstance(change, MarginCallMet):
                await conn.execute("UPDATE accounts SET margin_call_since = NULL WHERE account_id = $1", account_id)
                event = AuditEvent("risk.margin_call", account_id=account_id, actor="system:margin_monitor",
                                   status="met", reason="margin call met", extra=figures)
            else:
                assert isinstance(change, LiquidationStarted)
                event = AuditEvent("risk.liquidation", account_id=account_id, actor="system:margin_monitor",
                                   status="started", reason=f"margin call unmet since {change.since.isoformat()}",
                                   extra={**figures, "deficit": str(change.deficit)})
            await append_event(conn, event)
        log.warning("oms.margin", account=account_id, change=type(change).__name__)

    async def _liquidate(self, account_id: str, cash: object, positions: list[Position], marks: dict) -> None:  # type: ignore[type-arg]
        working = await working_orders(self.pool, account_id)
        if any(s.order.cl_ord_id.startswith("LIQ-") for s in working):
            return  # a liquidation is already under way
        for stored in working:
            await self.service.system_cancel(stored, "margin call liquidation")
        session = await self.pool.fetchval(
            "SELECT sender_comp_id FROM fix_session_accounts WHERE account_id = $1 ORDER BY is_default DESC "
            "LIMIT 1", account_id)
        if session is None:
            log.error("oms.liquidation_no_session", account=account_id)
            return
        for _ in range(50):  # the cancels free the blocked shares; wait for them briefly
            if not await working_orders(self.pool, account_id):
                break
            await asyncio.sleep(0.1)
        for item in liquidation_plan(cash, positions, marks, self.policy):  # type: ignore[arg-type]
            cmd = codec.NewOrderCommand(ClOrdID(f"LIQ-{new_id('L')}"), account_id, item.symbol, item.side,
                                        OrdType.MARKET, TimeInForce.DAY, item.qty, None, None, False)
            await self.service.new_order(session, cmd, datetime.now(UTC), actor="system:margin_monitor")
