"""Admission of order-entry messages against what is already known (pure), before any risk check.

* NewOrderSingle with a ClOrdID already used in the session: a PossResend (97=Y) gets the order's current
  status (ExecutionReport 150=I), never a second order; otherwise ExecutionReport 39=8 with 103=6.
* OrderCancelRequest / OrderCancelReplaceRequest for an unknown, finished or busy order, or a replace whose
  terms are off the instrument's lot or tick or the ledger's 4 decimals: OrderCancelReject (35=9) with
  CxlRejReason (102), CxlRejResponseTo (434) and the order's OrdStatus (39); FIX wants 39=8 and OrderID
  "NONE" when the order is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.oms.model import ClOrdID, CxlRejReason, CxlRejResponseTo, OrdRejReason, OrdStatus, Side
from gateway.oms.order_fsm import Order
from gateway.oms.validation import validate_terms
from refdata.instruments import Instrument

__all__ = [
    "CancelRejected",
    "DuplicateOrder",
    "Proceed",
    "ReportStatus",
    "admit_cancel",
    "admit_new_order",
    "admit_replace",
]

UNKNOWN_ORDER_ID = "NONE"
_BUSY = (OrdStatus.PENDING_NEW, OrdStatus.PENDING_CANCEL, OrdStatus.PENDING_REPLACE)


@dataclass(frozen=True, slots=True)
class Proceed:
    """Nothing known stands in the way: go on to validation and risk."""


@dataclass(frozen=True, slots=True)
class ReportStatus:
    """A possible resend of something already processed: answer with the order's current status."""

    order: Order


@dataclass(frozen=True, slots=True)
class DuplicateOrder:
    cl_ord_id: ClOrdID
    text: str
    reason: OrdRejReason = OrdRejReason.DUPLICATE_ORDER


@dataclass(frozen=True, slots=True)
class CancelRejected:
    reason: CxlRejReason
    response_to: CxlRejResponseTo
    ord_status: OrdStatus
    order_id: str  # the order's OrderID (37), "NONE" when unknown
    text: str


def admit_new_order(cl_ord_id: ClOrdID, existing: Order | None, *, poss_resend: bool = False,
                    ) -> Proceed | ReportStatus | DuplicateOrder:
    """``existing``: the session's order already carrying this ClOrdID (original or current), if any."""
    if existing is None:
        return Proceed()
    if poss_resend:
        return ReportStatus(existing)
    return DuplicateOrder(cl_ord_id, f"duplicate ClOrdID {cl_ord_id}: already used by order {existing.order_id} "
                                     f"({existing.status.ledger})")


def _common(orig: Order | None, orig_cl_ord_id: ClOrdID, cl_ord_id: ClOrdID, response_to: CxlRejResponseTo,
            cl_ord_id_in_use: bool, poss_resend: bool) -> CancelRejected | ReportStatus | None:
    if orig is None:
        return CancelRejected(CxlRejReason.UNKNOWN_ORDER, response_to, OrdStatus.REJECTED, UNKNOWN_ORDER_ID,
                              f"unknown order: no order with ClOrdID {orig_cl_ord_id}")
    if cl_ord_id_in_use:
        if poss_resend:
            return ReportStatus(orig)
        return CancelRejected(CxlRejReason.DUPLICATE_CL_ORD_ID, response_to, orig.status, orig.order_id,
                              f"duplicate ClOrdID {cl_ord_id}")
    if orig.is_terminal:
        return CancelRejected(CxlRejReason.TOO_LATE_TO_CANCEL, response_to, orig.status, orig.order_id,
                              f"too late: order {orig.order_id} is {orig.status.ledger}")
    if orig.status in _BUSY:
        return CancelRejected(CxlRejReason.ORDER_ALREADY_IN_PENDING_STATUS, response_to, orig.status,
                              orig.order_id, f"order {orig.order_id} is {orig.status.ledger}; wait for its answer")
    return None


def admit_cancel(orig: Order | None, orig_cl_ord_id: ClOrdID, cl_ord_id: ClOrdID, *,
                 cl_ord_id_in_use: bool = False, poss_resend: bool = False,
                 ) -> Proceed | ReportStatus | CancelRejected:
    """``orig``: the order found by OrigClOrdID (41) in this session; ``cl_ord_id_in_use``: the request's own
    ClOrdID (11) already names an order or request of the session."""
    answer = _common(orig, orig_cl_ord_id, cl_ord_id, CxlRejResponseTo.ORDER_CANCEL_REQUEST, cl_ord_id_in_use,
                     poss_resend)
    return answer if answer is not None else Proceed()


def admit_replace(orig: Order | None, orig_cl_ord_id: ClOrdID, cl_ord_id: ClOrdID, *, qty: Decimal,
                  price: Decimal | None, side: Side | None = None, symbol: str | None = None,
                  cl_ord_id_in_use: bool = False, poss_resend: bool = False, instrument: Instrument | None = None,
                  ) -> Proceed | ReportStatus | CancelRejected:
    """``instrument``: the order's instrument; the new terms meet its lot, tick and the ledger's 4 decimals
    exactly as a new order must."""
    response_to = CxlRejResponseTo.ORDER_CANCEL_REPLACE_REQUEST
    answer = _common(orig, orig_cl_ord_id, cl_ord_id, response_to, cl_ord_id_in_use, poss_resend)
    if answer is not None:
        return answer
    assert orig is not None

    def other(text: str) -> CancelRejected:
        return CancelRejected(CxlRejReason.OTHER, response_to, orig.status, orig.order_id, text)

    if (side is not None and side is not orig.side) or (symbol is not None and symbol != orig.symbol):
        return other("a replace cannot change the side or the symbol; cancel and enter a new order")
    if not isinstance(qty, Decimal) or not qty.is_finite() or qty <= 0:
        return other(f"invalid quantity {qty}")
    if qty < orig.cum_qty:
        return other(f"new quantity {qty} is below the executed quantity {orig.cum_qty}")
    if orig.ord_type.has_limit_price and (price is None or not price.is_finite() or price <= 0):
        return other(f"a {orig.ord_type.ledger} order needs a positive price")
    if not orig.ord_type.has_limit_price and price is not None:
        return other(f"a {orig.ord_type.ledger} order takes no price")
    if instrument is not None:
        invalid = validate_terms(instrument, orig.ord_type, orig.time_in_force, qty, price, orig.stop_px)
        if invalid is not None:
            return other(invalid.text)
    return Proceed()
