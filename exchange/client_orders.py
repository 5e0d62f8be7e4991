"""Orders from FIX sessions: ClOrdID book-keeping and engine events → reports (pure, no I/O).

Sessions are identified by a text key; each (session, ClOrdID) may be used once. Every ClOrdID an
order has carried (through replaces) finds it, so a cancel naming an older OrigClOrdID still works.
Engine events of orders that are not a session's (market makers, taker flow) produce nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from exchange.events import (
    CancelRejected,
    CancelRejectReason,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    OrdType,
    RejectReason,
    SelfTradePrevention,
    StopTriggered,
    TimeInForce,
)
from exchange.reports import (
    CANCEL_REQUEST,
    DONE,
    REPLACE_REQUEST,
    SELF_TRADE_RESTATEMENT,
    CancelReject,
    ExecIds,
    ExecReport,
    ExecType,
    OrdStatus,
    Outbound,
    compact_pickle,
)
from exchange.simulation import Simulation
from exchange.venue import NewOrder


@compact_pickle
@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A NewOrderSingle's fields, already read off the wire (text codes kept as sent)."""

    cl_ord_id: str
    symbol: str
    side: str
    ord_type: str
    time_in_force: str
    qty: Decimal
    price: Decimal | None = None
    stop_px: Decimal | None = None
    account: str | None = None
    exec_inst: str | None = None  # 18: "a" (trailing stop peg) makes a 40=P order a trailing stop
    peg_offset: Decimal | None = None  # 211 PegOffsetValue: the trail distance (its magnitude)
    stp: str | None = None  # 7940 SelfTradePreventionMode (absent: cancel newest)


@compact_pickle
@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """An OrderCancelRequest (qty None) or OrderCancelReplaceRequest."""

    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: str
    qty: Decimal | None = None
    price: Decimal | None = None
    stop_px: Decimal | None = None
    ord_type: str | None = None
    time_in_force: str | None = None


@compact_pickle
@dataclass(slots=True)
class ClientOrder:
    session: str
    request: OrderRequest
    order_id: int
    cl_ord_id: str
    orig_cl_ord_id: str | None = None
    qty: Decimal = Decimal(0)
    price: Decimal | None = None
    stop_px: Decimal | None = None
    leaves: Decimal = Decimal(0)
    cum: Decimal = Decimal(0)
    avg_px: Decimal = Decimal(0)
    status: str = OrdStatus.NEW


def _code(value: str, kind: type[OrdType] | type[TimeInForce]) -> OrdType | TimeInForce | None:
    try:
        return kind(int(value))
    except ValueError:
        return None


PEGGED = "P"  # FIX OrdType 40=P; with ExecInst 18=a a trailing stop (the only peg this venue runs)
_STP_CODES = {None: SelfTradePrevention.CANCEL_NEWEST, "1": SelfTradePrevention.CANCEL_NEWEST,
              "2": SelfTradePrevention.CANCEL_OLDEST, "3": SelfTradePrevention.CANCEL_BOTH}


def _ord_type(req: OrderRequest) -> OrdType | None:
    if req.ord_type == PEGGED:
        return OrdType.TRAILING_STOP if "a" in (req.exec_inst or "").split() else None
    code = _code(req.ord_type, OrdType)
    return None if code is OrdType.TRAILING_STOP else code  # type: ignore[return-value]


class ClientOrders:
    def __init__(self, sim: Simulation, exec_ids: ExecIds) -> None:
        self.sim = sim
        self.exec_ids = exec_ids
        self.by_id: dict[int, ClientOrder] = {}
        self.by_clordid: dict[tuple[str, str], ClientOrder] = {}
        # every Trade report of a session order, as sent (original ExecIDs): a status request is answered
        # with them (PossResend) before the status, so a requester that missed fills can book them once
        self.fills: dict[int, list[ExecReport]] = {}

    # Requests ----------------------------------------------------------------------------------
    def new_order(self, session: str, req: OrderRequest) -> list[Outbound]:
        ord_type, tif = _ord_type(req), _code(req.time_in_force or "0", TimeInForce)
        if (session, req.cl_ord_id) in self.by_clordid:
            return [self._reject(session, req, RejectReason.DUPLICATE_ORDER)]
        stp = _STP_CODES.get(req.stp)
        if ord_type is None or tif is None or req.side not in ("1", "2") or stp is None:
            return [self._reject(session, req, RejectReason.UNSUPPORTED_ORDER)]
        events = self.sim.submit(NewOrder(req.symbol, int(req.side), OrdType(ord_type), TimeInForce(tif), req.qty,
                                          req.price, req.stop_px, req.account, stp, req.peg_offset))
        order = ClientOrder(session, req, events[0].order_id, req.cl_ord_id, qty=req.qty, price=req.price,
                            stop_px=req.stop_px, leaves=req.qty)
        self.by_id[order.order_id] = order
        self.by_clordid[(session, req.cl_ord_id)] = order
        return self.reports(events)

    def cancel(self, session: str, req: ChangeRequest) -> list[Outbound]:
        return self._change(session, req, CANCEL_REQUEST)

    def replace(self, session: str, req: ChangeRequest) -> list[Outbound]:
        return self._change(session, req, REPLACE_REQUEST)

    def status(self, session: str, cl_ord_id: str, symbol: str, side: str) -> list[Outbound]:
        order = self.by_clordid.get((session, cl_ord_id))
        if order is None:
            return [ExecReport(session, "NONE", cl_ord_id, self.exec_ids.next(), ExecType.ORDER_STATUS,
                               OrdStatus.REJECTED, symbol, side, Decimal(0), Decimal(0), Decimal(0), Decimal(0),
                               ord_rej_reason=5, text="unknown order")]
        resent = [replace(r, poss_resend=True) for r in self.fills.get(order.order_id, ())]
        return [*resent, self.report(order, ExecType.ORDER_STATUS)]

    def _change(self, session: str, req: ChangeRequest, response_to: str) -> list[Outbound]:
        order = self.by_clordid.get((session, req.orig_cl_ord_id))

        def refuse(reason: CancelRejectReason, status: str | None = None) -> list[Outbound]:
            return [CancelReject(session, str(order.order_id) if order else "NONE", req.cl_ord_id,
                                 req.orig_cl_ord_id, status or (order.status if order else OrdStatus.REJECTED),
                                 response_to, reason.code, reason.text)]

        if order is None:
            return refuse(CancelRejectReason.UNKNOWN_ORDER)
        if (session, req.cl_ord_id) in self.by_clordid:
            return refuse(CancelRejectReason.DUPLICATE_CLORDID)
        if order.status in DONE:
            return refuse(CancelRejectReason.TOO_LATE)
        if req.symbol != order.request.symbol or req.side != order.request.side:
            return refuse(CancelRejectReason.UNSUPPORTED)
        symbol = order.request.symbol
        if response_to == CANCEL_REQUEST:
            events = self.sim.cancel(symbol, order.order_id)
        else:
            if (req.ord_type not in (None, order.request.ord_type)
                    or req.time_in_force not in (None, order.request.time_in_force) or req.qty is None):
                return refuse(CancelRejectReason.UNSUPPORTED)
            events = self.sim.replace(symbol, order.order_id, req.qty, req.price, req.stop_px)
        rejected = [e for e in events if isinstance(e, CancelRejected)]
        if rejected:
            return refuse(rejected[0].reason)
        self.by_clordid[(session, req.cl_ord_id)] = order
        order.orig_cl_ord_id, order.cl_ord_id = order.cl_ord_id, req.cl_ord_id
        return self.reports(events)

    # Engine events → reports -------------------------------------------------------------------
    def reports(self, events: list[Event]) -> list[Outbound]:
        """Reports for the session orders among ``events`` (in order); updates their state."""
        out: list[Outbound] = []
        venue = self.sim.venue
        for e in events:
            order = self.by_id.get(e.order_id)
            if order is None:
                continue
            symbol = order.request.symbol
            if isinstance(e, OrderAccepted):
                out.append(self.report(order, ExecType.NEW))
            elif isinstance(e, OrderFilled):
                order.cum, order.leaves = Decimal(e.cum), Decimal(e.leaves)
                order.avg_px = venue.avg_px(symbol, e.cum, e.cum_notional)
                order.status = OrdStatus.FILLED if not e.leaves else OrdStatus.PARTIALLY_FILLED
                trade = self.report(order, ExecType.TRADE, last_qty=Decimal(e.last_qty),
                                    last_px=venue.price(symbol, e.last_px),
                                    last_liquidity_ind="2" if e.aggressor else "1")
                self.fills.setdefault(order.order_id, []).append(trade)
                out.append(trade)
            elif isinstance(e, OrderCanceled | OrderExpired):
                expired = isinstance(e, OrderExpired)
                order.leaves = Decimal(0)
                order.status = OrdStatus.EXPIRED if expired else OrdStatus.CANCELED
                text = None if expired else e.reason.value  # type: ignore[union-attr]
                if not expired and e.reason.self_trade:  # type: ignore[union-attr]
                    out.append(self.report(order, ExecType.CANCELED, text=text,
                                           exec_restatement_reason=SELF_TRADE_RESTATEMENT))
                else:
                    out.append(self.report(order, ExecType.EXPIRED if expired else ExecType.CANCELED, text=text))
            elif isinstance(e, OrderReplaced):
                order.qty, order.leaves = Decimal(e.qty), Decimal(e.leaves)
                order.price = None if e.price is None else venue.price(symbol, e.price)
                order.stop_px = None if e.stop_px is None else venue.price(symbol, e.stop_px)
                out.append(self.report(order, ExecType.REPLACED))
            elif isinstance(e, StopTriggered):
                stop = order.stop_px if order.request.ord_type != PEGGED else None
                out.append(self.report(order, ExecType.TRIGGERED, stop_px=stop,
                                       text=f"stop triggered by a trade at {venue.price(symbol, e.last_px)}"))
            elif isinstance(e, OrderRejected):
                order.leaves = Decimal(0)
                order.status = OrdStatus.REJECTED
                out.append(self.report(order, ExecType.REJECTED, ord_rej_reason=e.reason.code, text=e.reason.text))
        return out

    def report(self, order: ClientOrder, exec_type: str, **extra: Any) -> ExecReport:
        """The order's report as it now stands; ``extra`` sets or overrides optional fields (no
        ``dataclasses.replace``: it costs a ``fields()`` walk per report)."""
        req = order.request
        optional: dict[str, Any] = {"ord_type": req.ord_type, "time_in_force": req.time_in_force, "price": order.price,
                                    "stop_px": order.stop_px, "orig_cl_ord_id": order.orig_cl_ord_id,
                                    "account": req.account}
        if extra:
            optional.update(extra)
        return ExecReport(order.session, str(order.order_id), order.cl_ord_id, self.exec_ids.next(), exec_type,
                          order.status, req.symbol, req.side, order.qty, order.leaves, order.cum, order.avg_px,
                          **optional)

    def _reject(self, session: str, req: OrderRequest, reason: RejectReason) -> ExecReport:
        return ExecReport(session, "NONE", req.cl_ord_id, self.exec_ids.next(), ExecType.REJECTED,
                          OrdStatus.REJECTED, req.symbol, req.side, req.qty, Decimal(0), Decimal(0), Decimal(0),
                          ord_type=req.ord_type, time_in_force=req.time_in_force, price=req.price,
                          stop_px=req.stop_px, ord_rej_reason=reason.code, text=reason.text, account=req.account)
