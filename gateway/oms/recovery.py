"""Start-up recovery: nothing lost, nothing doubled, whatever moment the gateway was killed at.

1. Messages that reached the gateway but were never handled: before the engines start, each session's
   expected inbound MsgSeqNum is set back to the last one handled + 1 (``fix_inbound_marks``) *in the same
   store* (session day / 141=Y reset: ``session_days``, ADR 010), so QuickFIX asks the peer to resend the
   rest: exchange ExecIDs already applied are no-ops, a client's resent
   (PossDup) requests already handled are answered with the order's status.
2. Client ExecutionReports committed but perhaps never handed to QuickFIX: sent again (``ClientLink``).
3. Orders and fills are reconciled with the exchange by ``gateway.oms.reconciliation`` at start-up and
   on every logon of the exchange link (ADR 011).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import asyncpg
import quickfix as fix
import structlog

from gateway.oms.links import ClientLink
from gateway.oms.session_days import StoreClock, rewind_to

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


async def resend_client_reports(pool: asyncpg.Pool, clients: ClientLink) -> int:
    count = await clients.resend_unconfirmed(pool)
    if count:
        log.info("oms.recovery_client_reports_resent", count=count)
    return count
