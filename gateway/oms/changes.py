"""Cancel and cancel/replace requests (the client's, or the system's for kill switches and liquidation).

Same path as a new order: admission (unknown, finished, busy or duplicate → OrderCancelReject 35=9 with
102), a replace re-checks risk on the difference and blocks any increase at once (a decrease is released
when the exchange confirms), the order's pending state, the client's PendingCancel/PendingReplace report
and the outbox event commit in one transaction; the request goes to the exchange after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, cast

import structlog

from audit.events import AuditEvent
from audit.outbox import append_event
from gateway.oms import fix_codec as codec
from gateway.oms import reports
from gateway.oms.admission import CancelRejected, Proceed, ReportStatus, admit_cancel, admit_replace
from gateway.oms.audit_trail import DB_DOWN_TEXT, UNAVAILABLE, event, request_event
from gateway.oms.fix_codec import Fields
from gateway.oms.model import ClOrdID, CxlRejReason, CxlRejResponseTo, ExecType, OrdRejReason, OrdStatus
from gateway.oms.order_events import OrderCancelRequested, OrderReplaceRequested
from gateway.oms.order_fsm import InvalidTransition, Order, apply
from gateway.oms.risk import check_replace
from gateway.oms.risk_config import Rejected
from gateway.oms.session_days import ClOrdIdScope, cl_ord_id_since, trading_day
from gateway.oms.store import (
    StoredOrder,
    claim_cl_ord_id,
    find_by_cl_ord_id,
    insert_execution,
    lock_order,
    new_id,
    save_order,
)
from ledger.errors import LedgerError
from ledger.journal_store import Conn, LockedAccount, lock_account
from ledger.order_postings import block_reservation
from ledger.reservations import OrderReservation

if TYPE_CHECKING:
    import asyncpg

    from gateway.oms.context import RiskInputs
    from gateway.oms.links import ClientLink, VenueLink
    from refdata.instruments import Instrument

log = structlog.get_logger(__name__)

__all__ = ["ChangeRequests"]


class ChangeRequests:
    """Mixed into ``OrderService`` (which provides the pool, risk inputs and links)."""

    pool: asyncpg.Pool
    inputs: RiskInputs
    instruments: dict[str, Instrument]
    clients: ClientLink
    venue: VenueLink
    clock: Callable[[], datetime]
    cl_ord_id_scope: ClOrdIdScope

    def record(self, event: AuditEvent) -> None:
        raise NotImplementedError  # OrderService.record

    def trading_day(self) -> date:
        return trading_day(self.clock())

    def cl_ord_id_since(self, poss_resend: bool = False) -> date:
        """The first trading day whose ClOrdIDs a request's new ClOrdID is checked against. A PossResend looks
        one day further back: a resend just after the day's turn is still answered from the ledger."""
        since = cl_ord_id_since(self.cl_ord_id_scope, self.clock())
        return since - timedelta(days=1) if poss_resend and since > date.min else since


    async def system_cancel(self, stored: StoredOrder, why: str) -> None:
        """Cancel an order on the system's behalf (kill switch, liquidation): the same path as a client's
        OrderCancelRequest, under a ClOrdID of ours; the client sees PendingCancel then Canceled."""
        order = stored.order
        cmd = codec.CancelCommand(ClOrdID(f"SYS-{new_id('C')}"), order.cl_ord_id, order.symbol, order.side, False)
        log.info("oms.system_cancel", order_id=order.order_id, session=stored.session_id, reason=why)
        await self.change(stored.session_id, cmd)

    # -- Cancel / replace ----------------------------------------------------------------------------
    async def change(self, session_id: str, cmd: codec.CancelCommand | codec.ReplaceCommand) -> None:
        is_replace = isinstance(cmd, codec.ReplaceCommand)
        response_to = (CxlRejResponseTo.ORDER_CANCEL_REPLACE_REQUEST if is_replace
                       else CxlRejResponseTo.ORDER_CANCEL_REQUEST)
        try:
            outcome = await self._change(session_id, cmd)
        except UNAVAILABLE:
            outcome = CancelRejected(CxlRejReason.OTHER, response_to, OrdStatus.REJECTED, "NONE", DB_DOWN_TEXT)
        except LedgerError as error:
            outcome = CancelRejected(CxlRejReason.BROKER_CREDIT, response_to, OrdStatus.REJECTED, "NONE", str(error))
        if isinstance(outcome, CancelRejected):
            self.record(request_event(
                "order.cancel_rejected", session_id, cl_ord_id=cmd.cl_ord_id, account_id=None,
                symbol=cmd.symbol or "", rule="cancel_reject", reason=outcome.text,
                actor=None if session_id else "system:gateway", orig_cl_ord_id=cmd.orig_cl_ord_id,
                order_id=outcome.order_id, request="replace" if is_replace else "cancel",
                cxl_rej_reason=int(outcome.reason.value)))
            self.clients.send(session_id, "9", reports.cancel_reject(outcome, cl_ord_id=cmd.cl_ord_id,
                                                                     orig_cl_ord_id=cmd.orig_cl_ord_id))
            return
        if isinstance(outcome, list):  # a status report (PossResend of a known request)
            self.clients.send(session_id, "8", outcome)
            return
        _, seq, fields, venue_fields = cast(tuple[StoredOrder, int | None, Fields, Fields], outcome)
        self.clients.send(session_id, "8", fields, seq)
        self.venue.send("G" if is_replace else "F", venue_fields)

    async def _change(self, session_id: str, cmd: codec.CancelCommand | codec.ReplaceCommand) -> object:
        found = await find_by_cl_ord_id(self.pool, session_id, cmd.orig_cl_ord_id)
        account_id = found[0].order.account_id if found else None
        async with self.pool.acquire(timeout=5) as conn, conn.transaction():
            account = await lock_account(conn, account_id) if account_id else None
            stored = await lock_order(conn, found[0].order.order_id) if found else None
            in_use = await find_by_cl_ord_id(conn, session_id, cmd.cl_ord_id,
                                             self.cl_ord_id_since(cmd.poss_resend)) is not None
            orig = stored.order if stored else None
            if isinstance(cmd, codec.ReplaceCommand):
                admitted = admit_replace(orig, cmd.orig_cl_ord_id, cmd.cl_ord_id, qty=cmd.qty, price=cmd.price,
                                         side=cmd.side, symbol=cmd.symbol, cl_ord_id_in_use=in_use,
                                         poss_resend=cmd.poss_resend,
                                         instrument=self.instruments.get(orig.symbol) if orig else None)
            else:
                admitted = admit_cancel(orig, cmd.orig_cl_ord_id, cmd.cl_ord_id, cl_ord_id_in_use=in_use,
                                        poss_resend=cmd.poss_resend)
            if isinstance(admitted, ReportStatus):
                return reports.execution_report(admitted.order, new_id("S"), ExecType.ORDER_STATUS)
            if not isinstance(admitted, Proceed):
                return admitted
            assert stored is not None and account is not None
            if isinstance(cmd, codec.ReplaceCommand):
                return await self._replace(conn, session_id, account, stored, cmd)
            return await self._cancel(conn, session_id, stored, cmd)

    async def _cancel(self, conn: Conn, session_id: str, stored: StoredOrder, cmd: codec.CancelCommand) -> object:
        order = apply(stored.order, OrderCancelRequested(cmd.cl_ord_id))
        return await self._request(conn, session_id, stored, order, cmd.cl_ord_id, "cancel", ExecType.PENDING_CANCEL,
                                   lambda venue_id, orig: reports.venue_cancel(order, venue_id, orig))

    async def _replace(self, conn: Conn, session_id: str, account: LockedAccount, stored: StoredOrder,
                       cmd: codec.ReplaceCommand) -> object:
        quote = await self.inputs.quote(stored.order.symbol)
        ctx, _ = await self.inputs.context(conn, account, stored.order.symbol, quote)
        decision = check_replace(stored.order, cmd.qty, cmd.price, ctx, self.inputs.limits(account),
                                 stored.reservation)
        if isinstance(decision, Rejected):
            reason = CxlRejReason.BROKER_CREDIT if decision.reason is OrdRejReason.BROKER_CREDIT else CxlRejReason.OTHER
            await append_event(conn, event("order.rejected", stored.order, session_id, rule=decision.rule.name.lower(),
                                           reason=decision.text, extra={"request": "replace"}))
            return CancelRejected(reason, CxlRejResponseTo.ORDER_CANCEL_REPLACE_REQUEST, stored.order.status,
                                  stored.order.order_id, decision.text)
        extra_cash, extra_qty = max(decision.extra_cash, Decimal(0)), max(decision.extra_shares, Decimal(0))
        if extra_cash or extra_qty:  # a larger order blocks its extra now; a smaller one releases on confirmation
            extra = OrderReservation(Decimal(0), extra_cash, extra_qty)
            await block_reservation(conn, account, stored.order.symbol, extra)
        try:
            order = apply(stored.order, OrderReplaceRequested(cmd.cl_ord_id, cmd.qty, cmd.price))
        except InvalidTransition as error:
            raise LedgerError(str(error)) from error
        reservation = stored.reservation.with_pending(extra_cash, extra_qty)  # kept out of fills' pro rata
        stored = replace(stored, reservation=reservation, pending_extra_cash=extra_cash, pending_extra_qty=extra_qty)
        return await self._request(conn, session_id, stored, order, cmd.cl_ord_id, "replace", ExecType.PENDING_REPLACE,
                                   lambda venue_id, orig: reports.venue_replace(order, venue_id, orig, cmd.qty,
                                                                                cmd.price))

    async def _request(self, conn: Conn, session_id: str, stored: StoredOrder, order: Order, cl_ord_id: str,
                       kind: str, exec_type: ExecType, venue_fields: object) -> object:
        orig_venue_id = stored.venue_cl_ord_id_in_force  # not the latest request's: the venue may have refused it
        stored = replace(stored, order=order, venue_requests=stored.venue_requests + 1)
        await save_order(conn, stored)
        await claim_cl_ord_id(conn, session_id, cl_ord_id, order.order_id, kind, self.trading_day())
        exec_id = new_id("E")
        fields = reports.execution_report(order, exec_id, exec_type)
        seq = await insert_execution(conn, exec_id=exec_id, venue_exec_id=None, stored=stored,
                                     exec_type=exec_type.ledger, last_qty=Decimal(0), last_px=Decimal(0),
                                     fix_fields=fields)
        await append_event(conn, event(f"order.{kind}_requested", order, session_id,
                                       extra={"request_cl_ord_id": cl_ord_id}))
        return stored, seq, fields, venue_fields(stored.venue_cl_ord_id, orig_venue_id)  # type: ignore[operator]
