"""Mass actions: OrderMassCancelRequest (35=q) and OrderMassStatusRequest (35=AF) (fix_specs/mass-actions.md).

Scope (pure, ``select``): the working orders this session entered, narrowed by Symbol (55) when the type says
"for a security" (530/585 = 1), by Side (54) and by Account (1) when given; an Account must be one of the
session's accounts, so no other session's or account's order is ever touched. Supported types: 1 (security)
and 7 (all orders); anything else is refused (35=r with 531=0 and 532, or a BusinessMessageReject for 35=AF).

A mass cancel cancels each order exactly as an OrderCancelRequest would (``ChangeRequests._change``: the
order's PendingCancel in one transaction with its execution row and its ``order.cancel_requested`` audit
event; the block is released only when the exchange confirms the cancel), under the ClOrdID
``<mass ClOrdID>:<OrderID>``; then one OrderMassCancelReport lists the orders whose cancel was requested.
A mass status answers one ExecutionReport (150=I) per order, the last with 912=Y; none: one report saying so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import quickfix as fix
import structlog

from audit.events import AuditEvent
from fixsession.messages import body_value, msg_seq_num
from fixsession.rejects import (
    APPLICATION_NOT_AVAILABLE,
    BUSINESS_REJECT_OTHER,
    CONDITIONALLY_REQUIRED_FIELD_MISSING,
    NOT_AUTHORIZED,
    UNKNOWN_SECURITY,
    business_reject,
)
from gateway.oms import fix_codec as codec
from gateway.oms import reports
from gateway.oms.admission import CancelRejected
from gateway.oms.audit_trail import DB_DOWN_TEXT, UNAVAILABLE, AuditSink, request_event
from gateway.oms.fix_codec import Fields, field_list, transact_time
from gateway.oms.model import ClOrdID, ExecType, OrdStatus, Side
from gateway.oms.order_fsm import Order
from gateway.oms.session_days import message_session_start
from gateway.oms.store import StoredOrder, new_id, working_orders
from ledger.errors import LedgerError

if TYPE_CHECKING:
    import asyncpg

    from gateway.oms.links import ClientLink, VenueLink
    from gateway.oms.session_lanes import SessionLanes
    from refdata.instruments import Instrument

log = structlog.get_logger(__name__)

__all__ = ["FOR_SECURITY", "MassActions", "MassCancelReject", "ScopeError", "mass_cancel_report",
           "mass_status_reports", "scope_error", "select"]

FOR_SECURITY, ALL_ORDERS = "1", "7"  # the MassCancelRequestType (530) / MassStatusReqType (585) values taken
SUPPORTED = (FOR_SECURITY, ALL_ORDERS)
# orders a cancel can be asked for (PendingCancel has one under way; PendingReplace is busy: 35=9 to a single)
CANCELABLE = frozenset({OrdStatus.PENDING_NEW, OrdStatus.NEW, OrdStatus.PARTIALLY_FILLED})


class MassCancelReject:  # MassCancelRejectReason (532)
    NOT_SUPPORTED = "0"
    UNKNOWN_SECURITY = "1"
    OTHER = "99"


@dataclass(frozen=True, slots=True)
class ScopeError:
    cancel_reason: str  # 532 for a 35=r
    business_reason: int  # 380 for a 35=j
    text: str


def scope_error(request_type: str, symbol: str | None, account: str | None, accounts: frozenset[str],
                instruments: Mapping[str, Instrument], tag: int) -> ScopeError | None:
    """Why a mass request cannot be carried out (``tag``: 530 or 585, for the text), or None."""
    if request_type not in SUPPORTED:
        return ScopeError(MassCancelReject.NOT_SUPPORTED, BUSINESS_REJECT_OTHER,
                          f"unsupported {tag}={request_type or '(none)'}: only 1 (orders for a security) and "
                          f"7 (all orders) are supported")
    if request_type == FOR_SECURITY and not symbol:
        return ScopeError(MassCancelReject.UNKNOWN_SECURITY, CONDITIONALLY_REQUIRED_FIELD_MISSING,
                          f"{tag}=1 needs Symbol (55)")
    if symbol and symbol not in instruments:
        return ScopeError(MassCancelReject.UNKNOWN_SECURITY, UNKNOWN_SECURITY, f"unknown symbol: {symbol}")
    if account is not None and account not in accounts:
        return ScopeError(MassCancelReject.OTHER, NOT_AUTHORIZED,
                          f"unknown account: {account} is not an account of this session")
    return None


def select(orders: Iterable[StoredOrder], session_id: str, request_type: str, symbol: str | None,
           side: Side | None, account: str | None) -> list[Order]:
    """The session's working orders in scope, oldest first (as ``working_orders`` lists them)."""
    return [s.order for s in orders
            if s.session_id == session_id and s.order.status.is_open
            and (request_type != FOR_SECURITY or s.order.symbol == symbol)
            and (side is None or s.order.side is side) and (account is None or s.order.account_id == account)]


def mass_cancel_report(cmd: codec.MassCancelCommand, report_id: str, affected: Sequence[Order],
                       rejected: ScopeError | None = None, text: str | None = None,
                       ) -> tuple[Fields, list[list[tuple[int, str]]]]:
    """OrderMassCancelReport (35=r) fields and its AffectedOrdGrp entries (41 OrigClOrdID, 535 AffectedOrderID)."""
    fields = field_list((
        (11, cmd.cl_ord_id), (37, report_id), (530, cmd.request_type or "0"),
        (531, "0" if rejected else cmd.request_type), (532, rejected.cancel_reason if rejected else None),
        (533, None if rejected else len(affected)), (55, cmd.symbol),
        (54, cmd.side.value if cmd.side else None), (60, transact_time()),
        (58, rejected.text if rejected else text),
    ))
    return fields, [[(41, o.cl_ord_id), (535, o.order_id)] for o in affected]


def mass_status_reports(cmd: codec.MassStatusCommand, orders: Sequence[Order], exec_id: Callable[[], str],
                        ) -> list[Fields]:
    """One ExecutionReport (150=I) per order with 584, 911 and 912 (Y on the last). No order: one report with
    37=NONE, 150=I, 39=8 (nothing to report on; no 103), 911=0, 912=Y and a Text saying so."""
    total = len(orders)
    if not total:
        return [field_list((
            (37, "NONE"), (17, exec_id()), (584, cmd.req_id), (911, 0), (912, "Y"),
            (150, ExecType.ORDER_STATUS.value), (39, OrdStatus.REJECTED.value), (1, cmd.account),
            (55, cmd.symbol), (54, cmd.side.value if cmd.side else None), (151, 0), (14, 0), (6, 0),
            (60, transact_time()), (58, "no orders match the mass status request"),
        ))]
    return [[*reports.execution_report(order, exec_id(), ExecType.ORDER_STATUS),
             (584, cmd.req_id), (911, str(total)), (912, "Y" if n == total else "N")]
            for n, order in enumerate(orders, start=1)]


class MassActions:
    """Mixed into ``OrderService`` (which provides the pool, links, lanes, accounts and ``_change``)."""

    pool: asyncpg.Pool
    clients: ClientLink
    venue: VenueLink
    instruments: dict[str, Instrument]
    session_accounts: dict[str, tuple[str, frozenset[str]]]
    lanes: SessionLanes
    audit: AuditSink

    def record(self, event: AuditEvent) -> None:
        raise NotImplementedError  # OrderService.record

    def client_id(self, sid: fix.SessionID) -> str:
        raise NotImplementedError  # OrderService.client_id

    async def _change(self, session_id: str, cmd: codec.CancelCommand | codec.ReplaceCommand) -> object:
        raise NotImplementedError  # ChangeRequests._change

    def _throttled(self, sid: fix.SessionID, msg: fix.Message, session_id: str, ref_id: str | None) -> bool:
        raise NotImplementedError  # OrderService._throttled

    def _accounts(self, session_id: str) -> frozenset[str]:
        return self.session_accounts.get(session_id, ("", frozenset()))[1]

    async def _session_orders(self, session_id: str, account: str | None) -> list[StoredOrder]:
        found: list[StoredOrder] = []
        for account_id in sorted({account} if account else self._accounts(session_id)):
            found += await working_orders(self.pool, account_id)
        return found

    async def _scoped(self, session_id: str, cmd: codec.MassCancelCommand | codec.MassStatusCommand,
                      type_tag: int) -> tuple[list[Order], ScopeError | None]:
        """The session's orders a mass request names (``type_tag``: 530 or 585), or why it is refused."""
        rejected = scope_error(cmd.request_type, cmd.symbol, cmd.account, self._accounts(session_id),
                               self.instruments, type_tag)
        if rejected is not None:
            return [], rejected
        try:
            return select(await self._session_orders(session_id, cmd.account), session_id, cmd.request_type,
                          cmd.symbol, cmd.side, cmd.account), None
        except UNAVAILABLE:
            return [], ScopeError(MassCancelReject.OTHER, APPLICATION_NOT_AVAILABLE, DB_DOWN_TEXT)

    def _in_lane(self, sid: fix.SessionID, msg: fix.Message, ref_tag: int,
                 run: Callable[[str, fix.Message], Awaitable[None]]) -> None:
        """Run ``run`` in the session's lane, after its earlier requests (the order-entry rate limit first)."""
        session_id = self.client_id(sid)
        if self._throttled(sid, msg, session_id, body_value(msg, ref_tag)):
            return
        self.lanes.submit(session_id, lambda: run(session_id, msg), msg_seq_num(msg), message_session_start(msg))

    # -- 35=q --------------------------------------------------------------------------------------
    async def on_mass_cancel(self, sid: fix.SessionID, msg: fix.Message) -> None:
        self._in_lane(sid, msg, 11, self.mass_cancel)

    async def mass_cancel(self, session_id: str, msg: fix.Message) -> None:
        try:
            cmd = codec.parse_mass_cancel(codec.crack(msg))
        except codec.BadField as error:
            self.clients.send_message(session_id, business_reject(
                msg, CONDITIONALLY_REQUIRED_FIELD_MISSING, f"invalid message: {error}", body_value(msg, 11)))
            return
        orders, rejected = await self._scoped(session_id, cmd, 530)
        affected: list[Order] = []
        to_venue: list[Fields] = []
        for order in orders:
            venue_fields = await self._cancel_one(session_id, cmd, order) if order.status in CANCELABLE else None
            if venue_fields is not None:
                affected.append(order)
                to_venue.append(venue_fields)
        self.record(_mass_event("order.mass_cancel_requested", session_id, cmd, rejected, cl_ord_id=cmd.cl_ord_id,
                                extra={"mass_cancel_request_type": cmd.request_type,
                                       "affected_orders": [o.order_id for o in affected]}))
        fields, entries = mass_cancel_report(cmd, new_id("M"), affected, rejected)
        self.clients.send_message(session_id, codec.build_group_message("r", fields, 534, entries))
        for venue_fields in to_venue:  # after the report: the client sees 35=r before any Canceled
            self.venue.send("F", venue_fields)

    async def _cancel_one(self, session_id: str, cmd: codec.MassCancelCommand, order: Order) -> Fields | None:
        """One order's cancel, as an OrderCancelRequest would do it (committed, the client's PendingCancel sent);
        the cancel for the exchange, or None when the order's cancel was refused."""
        cancel = codec.CancelCommand(ClOrdID(f"{cmd.cl_ord_id}:{order.order_id}"), order.cl_ord_id, order.symbol,
                                     order.side, False)
        try:
            outcome = await self._change(session_id, cancel)
        except (*UNAVAILABLE, LedgerError) as error:
            log.warning("oms.mass_cancel_order_failed", session=session_id, order_id=order.order_id,
                        error=str(error))
            return None
        if isinstance(outcome, CancelRejected) or not isinstance(outcome, tuple):
            text = outcome.text if isinstance(outcome, CancelRejected) else "not cancelable"
            self.record(request_event(
                "order.cancel_rejected", session_id, cl_ord_id=cancel.cl_ord_id, account_id=order.account_id,
                symbol=order.symbol, rule="cancel_reject", reason=text, orig_cl_ord_id=order.cl_ord_id,
                order_id=order.order_id, request="mass_cancel"))
            return None
        _, seq, fields, venue_fields = outcome
        self.clients.send(session_id, "8", fields, seq)
        return venue_fields  # type: ignore[no-any-return]

    # -- 35=AF -------------------------------------------------------------------------------------
    async def on_mass_status(self, sid: fix.SessionID, msg: fix.Message) -> None:
        self._in_lane(sid, msg, 584, self.mass_status)

    async def mass_status(self, session_id: str, msg: fix.Message) -> None:
        try:
            cmd = codec.parse_mass_status(codec.crack(msg))
        except codec.BadField as error:
            self.clients.send_message(session_id, business_reject(
                msg, CONDITIONALLY_REQUIRED_FIELD_MISSING, f"invalid message: {error}", body_value(msg, 584)))
            return
        orders, rejected = await self._scoped(session_id, cmd, 585)
        self.record(_mass_event("order.mass_status_requested", session_id, cmd, rejected,
                                extra={"mass_status_req_id": cmd.req_id, "mass_status_req_type": cmd.request_type,
                                       "reports": len(orders)}))
        if rejected is not None:
            self.clients.send_message(session_id, business_reject(msg, rejected.business_reason, rejected.text,
                                                                  cmd.req_id))
            return
        for fields in mass_status_reports(cmd, orders, lambda: new_id("S")):
            self.clients.send(session_id, "8", fields)


def _mass_event(kind: str, session_id: str, cmd: codec.MassCancelCommand | codec.MassStatusCommand,
                rejected: ScopeError | None, *, cl_ord_id: str = "", extra: dict[str, object]) -> AuditEvent:
    return AuditEvent(kind, account_id=cmd.account, actor=f"fix:{session_id}", symbol=cmd.symbol or "",
                      side=cmd.side.ledger if cmd.side else "", cl_ord_id=cl_ord_id,
                      status="rejected" if rejected else "accepted", rule="mass_request_reject" if rejected else "",
                      reason=rejected.text if rejected else "", extra=extra)

