"""Start-up recovery: nothing lost, nothing doubled, whatever moment the gateway was killed at.

1. Messages that reached the gateway but were never handled: before the engines start, each session's
   expected inbound MsgSeqNum is set back to the last one handled + 1 (``fix_inbound_marks``) *in the same
   store* (session day / 141=Y reset: ``session_days``, ADR 010), so QuickFIX asks the peer to resend the
   rest: exchange ExecIDs already applied are no-ops, a client's resent
   (PossDup) requests already handled are answered with the order's status.
2. Client ExecutionReports committed but perhaps never handed to QuickFIX: sent again (``ClientLink``).
3. Orders committed but perhaps never routed (PENDING_NEW) and working orders: an OrderStatusRequest each;
   an order the exchange does not know is routed now (PENDING_NEW) or canceled with its block released
   (it died with a crashed exchange); a pending cancel/replace the exchange never saw (its ClOrdID there
   is still the previous one) is sent again. Every repair is logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import asyncpg
import quickfix as fix
import structlog

from gateway.oms import fix_codec as codec
from gateway.oms import reports
from gateway.oms.links import ClientLink, VenueLink
from gateway.oms.market_protection import protection_price
from gateway.oms.model import OrdStatus
from gateway.oms.session_days import StoreClock, rewind_to
from gateway.oms.store import load_order, new_id, working_orders
from gateway.oms.venue import VenueReports

log = structlog.get_logger(__name__)


def rewind_inbound(begin: str, sender: str, target: str, marks: Mapping[datetime, int], clock: StoreClock) -> bool:
    """Set a (created, not yet started) session's next expected inbound MsgSeqNum back to the mark of its
    current store + 1 (``session_days.rewind_to``: only the mark of the same session day counts), so the peer
    resends what followed; False when there was nothing to rewind."""
    sid = fix.SessionID(begin, sender, target)
    session = fix.Session.lookupSession(sid)
    start = clock.session_start(sid)
    if session is None or start is None:
        return False
    expected = session.getExpectedTargetNum()
    target_seq = rewind_to(expected, marks, start)
    if target_seq is None:
        return False
    session.setNextTargetMsgSeqNum(target_seq)
    log.info("oms.recovery_rewind_inbound", session=f"{begin}:{sender}->{target}", was=expected,
             now=target_seq, session_start=start.isoformat(), known_days=len(marks))
    return True


@dataclass
class RecoveryReport:
    client_reports_resent: int = 0
    routed: list[str] = field(default_factory=list)
    canceled_unknown: list[str] = field(default_factory=list)
    resent_requests: list[str] = field(default_factory=list)
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
        if answer is None:
            log.warning("oms.recovery_no_status", order_id=stored.order.order_id)
            continue
        unknown = answer.venue_order_id in (None, "NONE")
        pending = stored.order.pending
        if not unknown and pending is not None and answer.venue_cl_ord_id != stored.venue_cl_ord_id:
            # the cancel/replace was committed but never reached the exchange: send it now
            current = await load_order(pool, stored.order.order_id)
            if current is not None and current.order.pending == pending:
                if pending.qty is not None:
                    venue.send("G", reports.venue_replace(stored.order, stored.venue_cl_ord_id,
                                                          answer.venue_cl_ord_id, pending.qty, pending.price))
                else:
                    venue.send("F", reports.venue_cancel(stored.order, stored.venue_cl_ord_id,
                                                         answer.venue_cl_ord_id))
                report.resent_requests.append(stored.order.order_id)
            continue
        if not unknown:
            continue
        current = await pool.fetchval("SELECT status FROM orders WHERE order_id = $1", stored.order.order_id)
        if current == OrdStatus.PENDING_NEW.ledger:
            venue.send("D", reports.venue_new_order(stored.order, protection_price(stored.order, stored.reservation)))
            report.routed.append(stored.order.order_id)
        elif current in ("new", "partially_filled", "pending_cancel", "pending_replace"):
            gone = codec.VenueReport(stored.order.order_id, None, new_id("R"), "4", "4", None, None,
                                     Decimal(0), Decimal(0), None,
                                     "unknown at the exchange after a restart")
            if await reports_in.apply_report(gone):
                report.canceled_unknown.append(stored.order.order_id)
    log.info("oms.recovery_reconciled", checked=report.checked, routed=report.routed,
             canceled_unknown=report.canceled_unknown, resent_requests=report.resent_requests)
    return report


async def resend_client_reports(pool: asyncpg.Pool, clients: ClientLink) -> int:
    count = await clients.resend_unconfirmed(pool)
    if count:
        log.info("oms.recovery_client_reports_resent", count=count)
    return count
