"""What the order path's shell shares: the audit event of an order (outbox payload contract of
``audit.events``), the clock, and what counts as "the database cannot be reached"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg

from audit.events import AuditEvent
from gateway.oms.order_fsm import Order

__all__ = ["DB_DOWN_TEXT", "UNAVAILABLE", "AuditSink", "event", "message_event", "no_audit", "now", "request_event"]

AuditSink = Callable[[AuditEvent], None]  # durable, outside any transaction (``audit_spool.AuditSpool.append``)

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


def no_audit(event: AuditEvent) -> None:
    """The sink of a shell wired without a spool (unit tests)."""


def request_event(kind: str, session_id: str, *, cl_ord_id: str, account_id: str | None, symbol: str = "",
                  side: str = "", ord_type: str = "", qty: Decimal | None = None, price: Decimal | None = None,
                  rule: str = "", reason: str = "", actor: str | None = None, **extra: object) -> AuditEvent:
    """A client request refused before (or without) a transaction: what was asked, by whom, and why."""
    return AuditEvent(kind, account_id=account_id, actor=actor or f"fix:{session_id}", symbol=symbol, side=side,
                      ord_type=ord_type, qty=qty, price=price, cl_ord_id=cl_ord_id, rule=rule, reason=reason,
                      status="rejected", extra={k: v for k, v in extra.items() if v is not None})


def message_event(kind: str, session_id: str, fields: dict[int, str], rule: str = "") -> AuditEvent:
    """A session-level answer (35=3 Reject, 35=j BusinessMessageReject) we sent: its text and references."""
    names = {45: "ref_seq_num", 371: "ref_tag_id", 372: "ref_msg_type", 373: "session_reject_reason",
             379: "business_reject_ref_id", 380: "business_reject_reason"}
    return AuditEvent(kind, actor=f"fix:{session_id}", reason=fields.get(58, ""), rule=rule,
                      extra={name: fields[tag] for tag, name in names.items() if tag in fields})
