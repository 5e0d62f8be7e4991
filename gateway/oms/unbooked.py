"""Exchange fills the ledger refused (``unbooked_fills``), and their settlement by an operator.

The exchange traded; the ledger could not book the fill (``VenueReports._refused``: e.g. a fill beyond the
cash blocked). The gateway records it here once (and an ``order.fill_unbooked`` event) in its own transaction.
``settle`` then either books it -- through the very code a normal fill takes (``VenueReports`` on one
``Batch``: order state, journal entry, cash, holding, block release, the client's ExecutionReport), so the
venue ExecID is booked once whoever books it -- or writes it off with a reason. Either way the row leaves the
``open`` state in the same transaction as an ``order.fill_settled`` audit event; a second settlement is
refused (the row is locked and no longer open).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from audit.events import AuditEvent
from audit.outbox import append_event
from gateway.oms import fix_codec as codec
from gateway.oms.batch import Batch
from gateway.oms.risk_config import RiskLimits
from ledger.journal_store import Conn

__all__ = ["AlreadySettled", "SettleRefused", "Settlement", "UnbookedFill", "list_unbooked", "record_unbooked",
           "settle"]

Action = Literal["book", "write_off"]


class AlreadySettled(LookupError):
    """The fill is unknown or was settled before."""


class SettleRefused(RuntimeError):
    """Booking failed (the ledger still refuses it, or the order no longer takes it); nothing changed."""


@dataclass(frozen=True, slots=True)
class UnbookedFill:
    venue_exec_id: str
    order_id: str
    account_id: str
    symbol: str
    side: str
    last_qty: Decimal
    last_px: Decimal
    venue_order_id: str | None
    error: str
    state: str
    settled_reason: str | None
    settled_by: str | None
    settled_at: datetime | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Decimal) else v.isoformat() if isinstance(v, datetime) else v)
                for k, v in ((name, getattr(self, name)) for name in self.__slots__)}


@dataclass(frozen=True, slots=True)
class Settlement:
    venue_exec_id: str
    action: Action
    already_booked: bool = False  # booking found the venue ExecID booked already (nothing posted twice)


_COLUMNS = ("venue_exec_id, order_id, account_id, symbol, side, last_qty, last_px, venue_order_id, error, state, "
            "settled_reason, settled_by, settled_at, created_at")


async def record_unbooked(conn: Conn, report: codec.VenueReport, order_id: str, account_id: str, error: str,
                          ) -> bool:
    """Remember a refused fill (inside the caller's transaction); False when it was recorded before."""
    inserted = await conn.fetchval(
        "INSERT INTO unbooked_fills (venue_exec_id, order_id, account_id, symbol, side, last_qty, last_px, "
        "venue_order_id, error) SELECT $1, o.order_id, $3, o.symbol, o.side, $4, $5, $6, $7 FROM orders o "
        "WHERE o.order_id = $2 ON CONFLICT (venue_exec_id) DO NOTHING RETURNING true",
        report.exec_id, order_id, account_id, report.last_qty, report.last_px, report.venue_order_id, error)
    return bool(inserted)


async def unbooked_state(conn: Conn | asyncpg.Pool, venue_exec_id: str) -> str | None:
    state: str | None = await conn.fetchval("SELECT state FROM unbooked_fills WHERE venue_exec_id = $1",
                                            venue_exec_id)
    return state


async def list_unbooked(pool: asyncpg.Pool, states: Sequence[str] = ("open",)) -> list[UnbookedFill]:
    rows = await pool.fetch(f"SELECT {_COLUMNS} FROM unbooked_fills WHERE state = ANY($1::text[]) "
                            "ORDER BY created_at, venue_exec_id", list(states))
    return [UnbookedFill(**dict(row)) for row in rows]


async def settle(pool: asyncpg.Pool, venue_exec_id: str, action: Action, reason: str, actor: str,
                 limits: RiskLimits | None = None) -> Settlement:
    """Book or write off one open unbooked fill, exactly once, audited. Raises ``AlreadySettled`` or
    ``SettleRefused`` (nothing changed)."""
    from gateway.oms.venue import VenueReports  # venue imports this module

    if not reason.strip():
        raise SettleRefused("a reason is required")
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM unbooked_fills WHERE venue_exec_id = $1 FOR UPDATE",
                                  venue_exec_id)
        if row is None:
            raise AlreadySettled(f"no unbooked fill with venue ExecID {venue_exec_id}")
        fill = UnbookedFill(**dict(row))
        if fill.state != "open":
            raise AlreadySettled(f"fill {venue_exec_id} was already settled ({fill.state} by {fill.settled_by} at "
                                 f"{fill.settled_at:%Y-%m-%d %H:%M:%S}Z: {fill.settled_reason})")
        already = False
        if action == "book":
            report = codec.VenueReport(fill.order_id, fill.venue_order_id, fill.venue_exec_id, "F", "",
                                       None, None, fill.last_qty, fill.last_px, None, "")
            venue = VenueReports(pool, _Recorded(), limits or RiskLimits(), lanes=1)  # type: ignore[arg-type]
            batch = Batch(conn)
            await batch.prefetch([fill.account_id], [fill.order_id], [fill.venue_exec_id])
            try:
                async with conn.transaction():  # a savepoint: a refusal leaves the row open
                    sent = await venue._report_unit(batch, fill.account_id, report)
                    await batch.flush()
            except Exception as error:
                raise SettleRefused(f"the ledger still refuses the fill: {type(error).__name__}: {error}") from error
            if sent is None:
                booked = await conn.fetchval("SELECT true FROM executions WHERE venue_exec_id = $1", venue_exec_id)
                if not booked:
                    raise SettleRefused(f"order {fill.order_id} no longer takes this fill (see the gateway log "
                                        "oms.venue_report_refused); write it off instead")
                already = True
        state = "booked" if action == "book" else "written_off"
        await conn.execute("UPDATE unbooked_fills SET state = $2, settled_reason = $3, settled_by = $4, "
                           "settled_at = now() WHERE venue_exec_id = $1", venue_exec_id, state, reason, actor)
        await append_event(conn, AuditEvent(
            "order.fill_settled", account_id=fill.account_id, actor=actor, symbol=fill.symbol, side=fill.side,
            order_id=fill.order_id, last_qty=fill.last_qty, last_px=fill.last_px, reason=reason,
            extra={"venue_exec_id": venue_exec_id, "settlement": state, "already_booked": already}))
    return Settlement(venue_exec_id, action, already)


class _Recorded:
    """Clients of a settlement outside the gateway: the client's ExecutionReport is committed with the fill
    (``executions``) and a running gateway sends it (``ClientLink.send_overdue``, after the grace)."""

    def send(self, *args: object) -> bool:
        return True
