"""Start-up recovery, as ``gateway/oms/recovery.py`` and ``bootstrap.py`` run it, on the fakes.

1. Rewind the exchange session's expected inbound MsgSeqNum to the saved mark + 1 (``rewind_inbound``),
   the mark read as the policy keeps it (per session day, or production's single greatest number).
2. Log on: the exchange sees the gap and resends the rest (PossDup); applied ExecIDs are no-ops.
3. Re-send committed client reports above each session's ``client_report_marks`` mark.
4. ``reconcile_with_venue``: an OrderStatusRequest per working order (answered here at once, out of band);
   an unknown PENDING_NEW order is routed, an unknown working one is canceled (its block released), a
   pending cancel/replace the exchange never saw is sent again.
"""

from __future__ import annotations

from decimal import Decimal

from gateway.oms import reports
from gateway.oms.fix_codec import VenueReport
from gateway.oms.market_protection import protection_price
from gateway.oms.model import OrdStatus
from tests.sim.gateway import VENUE_KEY, SimGateway
from tests.sim.messages import ClientMsg

_WORKING = (OrdStatus.NEW, OrdStatus.PARTIALLY_FILLED, OrdStatus.PENDING_CANCEL, OrdStatus.PENDING_REPLACE)


def recover(gw: SimGateway) -> list[str]:
    notes: list[str] = []
    state = gw.store.state
    mark = state.marks.get(VENUE_KEY)
    engine = gw.inbound.store
    if gw.policy.marks_per_day:
        last_applied = mark.seq if mark is not None and mark.day == engine.day else 0
    else:
        last_applied = mark.seq if mark is not None else 0
    if engine.expected > last_applied + 1:  # rewind_inbound
        notes.append(f"rewind {engine.expected} -> {last_applied + 1}")
        engine.expected = last_applied + 1
    gw.stream.connected = True
    gw.inbound.logon()
    resent = 0
    for row in state.reports:  # resend_client_reports
        if row.seq > state.client_marks.get(row.session_id, 0):
            gw.client_out.append(ClientMsg(row.session_id, "8", row.order_id, row.cl_ord_id, row.exec_id,
                                           row.exec_type, row.ord_status.value, row.seq))
            resent += 1
    notes.append(f"client reports resent {resent}")
    for stored in [s for s in state.orders.values() if s.order.status.is_open]:  # reconcile_with_venue
        order = stored.order
        answer = gw.exchange.status(order.order_id, order.symbol, "1" if order.side.value == "1" else "2")
        unknown = answer.venue_order_id in (None, "NONE")
        pending = order.pending
        if not unknown and pending is not None and answer.venue_cl_ord_id != stored.venue_cl_ord_id:
            if pending.qty is not None:
                gw.venue_out.append(("G", reports.venue_replace(order, stored.venue_cl_ord_id,
                                                                answer.venue_cl_ord_id, pending.qty, pending.price)))
            else:
                gw.venue_out.append(("F", reports.venue_cancel(order, stored.venue_cl_ord_id,
                                                               answer.venue_cl_ord_id)))
            notes.append(f"resend request {order.order_id}")
            continue
        if not unknown:
            continue
        current = gw.store.state.orders[order.order_id].order.status
        if current is OrdStatus.PENDING_NEW:
            gw.venue_out.append(("D", reports.venue_new_order(order, protection_price(order, stored.reservation))))
            notes.append(f"route {order.order_id}")
        elif current in _WORKING:
            gone = VenueReport(order.order_id, None, gw.ids.next("R"), "4", "4", None, None, Decimal(0),
                               Decimal(0), None, "unknown at the exchange after a restart")
            gw.apply_report(order.account_id, gone)
            notes.append(f"cancel unknown {order.order_id}")
    return notes
