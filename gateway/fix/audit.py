"""Session events (logon, logout, refused logon) into the outbox, from QuickFIX threads.

``record`` is called on the engine thread and returns at once; the insert runs on the event loop.
A database outage loses no session (the event is logged with its reason either way); with the order path's
audit spool attached (``spool``) the event is kept durably and lands in the outbox once PostgreSQL is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import structlog

from audit.events import AuditEvent
from audit.outbox import append_event

log = structlog.get_logger(__name__)


class SessionAudit:
    def __init__(self, loop: asyncio.AbstractEventLoop, pool: asyncpg.Pool | None) -> None:
        self.loop = loop
        self.pool = pool
        self._pending: set[asyncio.Task[None]] = set()
        # the order path's durable audit spool (``gateway.oms.audit_spool``): when set, events go there (fsync'd,
        # replayed into the outbox exactly once), so a logon during a PostgreSQL outage is not lost
        self.spool: Callable[[AuditEvent], None] | None = None

    def record(self, event_type: str, sender_comp_id: str, reason: str = "") -> None:
        """Thread-safe: one ``session.*`` event for the outbox (through the spool when there is one)."""
        event = AuditEvent(event_type, actor=f"fix:{sender_comp_id}", reason=reason)
        if self.spool is not None:
            try:
                self.spool(event)
                return
            except Exception:  # disk trouble: fall back to the direct insert
                log.exception("fix.session_event_not_spooled", event_type=event_type, actor=event.actor)
        try:
            self.loop.call_soon_threadsafe(self._spawn, event)
        except RuntimeError:  # loop closed at shutdown
            log.warning("fix.session_event_lost", event_type=event_type, actor=event.actor, reason=reason)

    def _spawn(self, event: AuditEvent) -> None:
        task = self.loop.create_task(self._insert(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _insert(self, event: AuditEvent) -> None:
        if self.pool is None:
            return
        try:
            async with self.pool.acquire() as conn:
                await append_event(conn, event)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.exception("fix.session_event_not_stored", event_type=event.event_type, actor=event.actor)

    async def flush(self) -> None:
        """Wait for the events recorded so far to be written."""
        await asyncio.sleep(0)
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
