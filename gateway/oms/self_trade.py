"""Self-trade prevention settings (ADR 025): each account's mode, and how it reaches the exchange.

The exchange prevents self-trades between orders of one FIX account (tag 1, which the gateway always sends);
the mode rides on every NewOrderSingle to the exchange in the user-defined tag 7940 SelfTradePreventionMode
(declared in fix_specs/FIX44.xml): 1 cancel newest (the default), 2 cancel oldest, 3 cancel both. The setting
is ``accounts.stp_mode``; an operator changes it with ``brokerage accounts stp ACCOUNT MODE``. The gateway
keeps the accounts that differ from the default in memory (routing never waits for the database) and reloads
them every ``REFRESH_SECONDS``, so a change applies to orders routed from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
from enum import Enum

import asyncpg
import structlog

from audit.events import AuditEvent
from audit.outbox import append_event

__all__ = ["REFRESH_SECONDS", "STP_TAG", "SelfTradeModes", "StpMode", "set_mode"]

log = structlog.get_logger(__name__)

STP_TAG = 7940
REFRESH_SECONDS = 1.0


class StpMode(Enum):
    """``accounts.stp_mode`` word → the tag 7940 code."""

    CANCEL_NEWEST = "cancel_newest"
    CANCEL_OLDEST = "cancel_oldest"
    CANCEL_BOTH = "cancel_both"

    @property
    def fix(self) -> str:
        return _FIX[self]


_FIX = {StpMode.CANCEL_NEWEST: "1", StpMode.CANCEL_OLDEST: "2", StpMode.CANCEL_BOTH: "3"}


class SelfTradeModes:
    """The accounts whose mode is not the default, as last loaded."""

    def __init__(self) -> None:
        self.modes: dict[str, StpMode] = {}

    def mode(self, account_id: str) -> StpMode:
        return self.modes.get(account_id, StpMode.CANCEL_NEWEST)

    def field(self, account_id: str) -> tuple[int, str]:
        """The (tag, value) to add to the account's NewOrderSingle to the exchange."""
        return STP_TAG, self.mode(account_id).fix

    async def refresh(self, pool: asyncpg.Pool) -> None:
        rows = await pool.fetch("SELECT account_id, stp_mode FROM accounts WHERE stp_mode <> 'cancel_newest'")
        self.modes = {r["account_id"]: StpMode(r["stp_mode"]) for r in rows}

    async def run(self, pool: asyncpg.Pool, every: float = REFRESH_SECONDS) -> None:
        """Reload forever (a failed reload keeps the last modes and is logged)."""
        while True:
            try:
                await self.refresh(pool)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("oms.stp_modes_refresh_failed", error=str(error))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.sleep(every)


async def set_mode(pool: asyncpg.Pool, account_id: str, mode: StpMode, actor: str = "cli") -> bool:
    """Set an account's mode, with an ``account.stp_mode`` audit event in the same transaction; False when there
    is no such account."""
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.execute("UPDATE accounts SET stp_mode = $2 WHERE account_id = $1", account_id,
                                    mode.value)
        if not status.endswith(" 1"):
            return False
        await append_event(conn, AuditEvent("account.stp_mode", account_id=account_id, actor=actor,
                                            reason=f"self-trade prevention set to {mode.value}"))
    return True
