"""Start-up recovery: nothing lost, nothing doubled, whatever moment the gateway was killed at.

1. Exchange reports that reached the gateway but were never committed: before the exchange link starts,
   its expected inbound MsgSeqNum is set back to the last one committed + 1 (``fix_inbound_marks``), so
   QuickFIX asks the exchange to resend the rest; ExecIDs already applied are no-ops.
2. Client ExecutionReports committed but perhaps never handed to QuickFIX: sent again (``ClientLink``).
3. Orders committed but perhaps never routed (PENDING_NEW) and working orders: an OrderStatusRequest each;
   an order the exchange does not know is routed now (PENDING_NEW) or canceled with its block released
   (it died with a crashed exchange). Every repair is logged.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import asyncpg
import structlog

from fixsession.settings import session_directory
from gateway.oms import fix_codec as codec
from gateway.oms import reports
from gateway.oms.links import ClientLink, VenueLink
from gateway.oms.model import OrdStatus
from gateway.oms.store import new_id, working_orders
from gateway.oms.venue import VenueReports

log = structlog.get_logger(__name__)

_SEQNUMS = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def rewind_inbound(data_dir: Path, endpoint: str, begin: str, sender: str, target: str, last_applied: int) -> bool:
    """Set the stored next inbound MsgSeqNum back to ``last_applied + 1`` (QuickFIX FileStore format
    ``<next sender> : <next target>``); False when there was nothing to rewind."""
    path = session_directory(data_dir, endpoint) / "store" / f"{begin}-{sender}-{target}.seqnums"
    if not path.exists():
        return False
    match = _SEQNUMS.match(path.read_text())
    if match is None:
        return False
    sender_next, target_next = int(match.group(1)), int(match.group(2))
    if target_next <= last_applied + 1:
        return False
    path.write_text(f"{sender_next:010d} : {last_applied + 1:010d}")
    log.info("oms.recovery_rewind_inbound", endpoint=endpoint, was=target_next, now=last_applied + 1)
    return True


async def inbound_mark(pool: asyncpg.Pool, key: str) -> int | None:
    value: int | None = await pool.fetchval("SELECT last_seq FROM fix_inbound_marks WHERE session_key = $1", key)
    return value


@dataclass
class RecoveryReport:
    client_reports_resent: int = 0
    routed: list[str] = field(default_factory=list)
    canceled_unknown: list[str] = field(default_factory=list)
    checked: int = 0


async def reconcile_with_venue(pool: asyncpg.Pool, venue: VenueLink, reports_in: VenueReports,
                               wait_seconds: float = 3.0) -> RecoveryReport:
    report = RecoveryReport()
    orders = await working_orders(pool)
    report.checked = len(orders)
    for stored in orders:
        venue.send("H", reports.venue_status(stored.order, stored.order.order_id))
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while asyncio.get_running_loop().time() < deadline:
        if all(s.order.order_id in reports_in.status_answers for s in orders):
            break
        await asyncio.sleep(0.05)
    for stored in orders:
        answer = reports_in.status_answers.get(stored.order.order_id)
        unknown = answer is not None and (answer.venue_order_id in (None, "NONE"))
        if not unknown:
            continue
        current = await pool.fetchval("SELECT status FROM orders WHERE order_id = $1", stored.order.order_id)
        if current == OrdStatus.PENDING_NEW.ledger:
            venue.send("D", reports.venue_new_order(stored.order))
            report.routed.append(stored.order.order_id)
        elif current in ("new", "partially_filled", "pending_cancel", "pending_replace"):
            gone = codec.VenueReport(stored.order.order_id, None, new_id("R"), "4", "4", None, None,
                                     Decimal(0), Decimal(0), None,
                                     "unknown at the exchange after a restart")
            if await reports_in.apply_report(gone):
                report.canceled_unknown.append(stored.order.order_id)
    log.info("oms.recovery_reconciled", checked=report.checked, routed=report.routed,
             canceled_unknown=report.canceled_unknown)
    return report


async def resend_client_reports(pool: asyncpg.Pool, clients: ClientLink) -> int:
    count = await clients.resend_unconfirmed(pool)
    if count:
        log.info("oms.recovery_client_reports_resent", count=count)
    return count
