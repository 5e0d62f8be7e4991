"""Kill switches (global in ``trading_controls``, per account in ``accounts.kill_switch``) as the gateway
enforces them: new orders are refused inside the order transaction (``RiskContext``); this watcher cancels
the working orders of every account a switch covers, through the ordinary cancel path.

The switches are set by `brokerage kill-switch` (another process), so the watcher polls: a few cheap
queries per interval. ``orders_to_cancel`` skips orders already pending, so running again is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import structlog

from audit.events import AuditEvent
from audit.outbox import append_event
from gateway.oms.kill_switch import KillSwitches, orders_to_cancel
from gateway.oms.model import AccountID
from gateway.oms.service import OrderService
from gateway.oms.store import StoredOrder, load_controls, working_orders

log = structlog.get_logger(__name__)

__all__ = ["KillSwitchWatcher", "set_kill_switch"]


async def set_kill_switch(pool: asyncpg.Pool, engaged: bool, account: str | None, actor: str, reason: str = "",
                          ) -> bool:
    """Engage or release a switch and record ``risk.kill_switch``; False when it was already so."""
    async with pool.acquire() as conn, conn.transaction():
        if account is None:
            changed = await conn.fetchval(
                "UPDATE trading_controls SET engaged = $1, reason = $2, updated_at = now() "
                "WHERE name = 'kill_switch' AND engaged <> $1 RETURNING true", engaged, reason)
        else:
            exists = await conn.fetchval("SELECT true FROM accounts WHERE account_id = $1", account)
            if not exists:
                raise LookupError(f"account not found: {account}")
            changed = await conn.fetchval(
                "UPDATE accounts SET kill_switch = $1 WHERE account_id = $2 AND kill_switch <> $1 RETURNING true",
                engaged, account)
        if changed:
            await append_event(conn, AuditEvent(
                "risk.kill_switch", account_id=account, actor=actor, status="engaged" if engaged else "released",
                reason=reason or ("engaged" if engaged else "released"),
                extra={"scope": "account" if account else "global"}))
        return bool(changed)


class KillSwitchWatcher:
    def __init__(self, pool: asyncpg.Pool, service: OrderService, interval: float = 0.25,
                 owns: Callable[[StoredOrder], bool] | None = None) -> None:
        self.pool = pool
        self.owns = owns  # gateway shards: each cancels the orders of its own sessions (docs/adr/015)
        self.service = service
        self.interval = interval
        self.switches = KillSwitches()

    async def check(self) -> int:
        controls = await load_controls(self.pool)
        killed = frozenset(AccountID(r["account_id"]) for r in await self.pool.fetch(
            "SELECT account_id FROM accounts WHERE kill_switch"))
        switches = KillSwitches(controls.global_kill, killed)
        if switches != self.switches:
            log.info("oms.kill_switches", global_engaged=switches.global_engaged, accounts=sorted(killed))
        self.switches = switches
        if not (switches.global_engaged or switches.accounts):
            return 0
        stored = [s for s in await working_orders(self.pool) if self.owns is None or self.owns(s)]
        by_id = {s.order.order_id: s for s in stored}
        targets = orders_to_cancel(switches, [s.order for s in stored])
        for order in targets:
            await self.service.system_cancel(by_id[order.order_id], "kill switch engaged")
        return len(targets)



def utc_now() -> datetime:
    return datetime.now(UTC)
