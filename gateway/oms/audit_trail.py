"""What the order path's shell shares: the audit event of an order (outbox payload contract of
``audit.events``), the clock, and what counts as "the database cannot be reached"."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from audit.events import AuditEvent
from gateway.oms.order_fsm import Order

__all__ = ["DB_DOWN_TEXT", "UNAVAILABLE", "event", "now"]

UNAVAILABLE = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, TimeoutError,
               asyncpg.CannotConnectNowError)
DB_DOWN_TEXT = "order entry unavailable: the ledger database cannot be reached; nothing was accepted"


def now() -> datetime:
    return datetime.now(UTC)


def event(kind: str, order: Order, session_id: str, actor: str | None = None, **more: object) -> AuditEvent:
    """An order's audit event: who, what, the order's figures after the change, plus ``more`` fields."""
    return AuditEvent(kind, account_id=order.account_id, actor=actor or f"fix:{session_id}", symbol=order.symbol,
                      side=order.side.ledger, ord_type=order.ord_type.ledger, status=order.status.ledger,
                      qty=order.qty, price=order.price, cl_ord_id=order.cl_ord_id, order_id=order.order_id,
                      **more)  # type: ignore[arg-type]
