"""The order-entry decision for a NewOrderSingle, composed from the pure steps (no I/O).

Admission (duplicate ClOrdID / PossResend) → validation (symbol, lot, tick, TIF) → risk (kill switch,
halts, hours, fat finger, shares, buying power). The shell gathers the inputs inside its transaction
(locked account row), calls ``decide_new_order`` and carries out the answer: block ``Accepted.reservation``
and insert the order, or send the ExecutionReport the other answers describe.
"""

from __future__ import annotations

from gateway.oms.admission import DuplicateOrder, ReportStatus, admit_new_order
from gateway.oms.order_fsm import Order
from gateway.oms.risk import check_new_order
from gateway.oms.risk_config import Accepted, Rejected, RiskContext, RiskLimits
from gateway.oms.validation import validate_order
from refdata.instruments import Instrument

__all__ = ["NewOrderDecision", "decide_new_order"]

NewOrderDecision = Accepted | Rejected | DuplicateOrder | ReportStatus


def decide_new_order(order: Order, *, existing: Order | None, poss_resend: bool, instrument: Instrument | None,
                     ctx: RiskContext, limits: RiskLimits) -> NewOrderDecision:
    """``order``: the submitted order (PENDING_NEW); ``existing``: the session's order with that ClOrdID."""
    admitted = admit_new_order(order.cl_ord_id, existing, poss_resend=poss_resend)
    if isinstance(admitted, DuplicateOrder | ReportStatus):
        return admitted
    invalid = validate_order(order, instrument)
    if invalid is not None:
        return invalid
    return check_new_order(order, ctx, limits)
