"""Order events, in the past tense (pure data), and the ExecType (150) each reports as.

They carry only what the venue or the client said; identifiers and timestamps are added by the shell.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.oms.model import ClOrdID, ExecID, ExecType, OrdRejReason

__all__ = [
    "OrderAccepted",
    "OrderCancelRejected",
    "OrderCancelRequested",
    "OrderCanceled",
    "OrderEvent",
    "OrderExpired",
    "OrderFilled",
    "OrderRejected",
    "OrderReplaceRejected",
    "OrderReplaceRequested",
    "OrderReplaced",
    "exec_type_for",
]



@dataclass(frozen=True, slots=True)
class OrderAccepted:
    venue_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderRejected:
    reason: OrdRejReason
    text: str


@dataclass(frozen=True, slots=True)
class OrderFilled:
    exec_id: ExecID
    last_qty: Decimal
    last_px: Decimal


@dataclass(frozen=True, slots=True)
class OrderCancelRequested:
    cl_ord_id: ClOrdID  # the cancel request's own ClOrdID


@dataclass(frozen=True, slots=True)
class OrderCanceled:
    pass


@dataclass(frozen=True, slots=True)
class OrderCancelRejected:
    text: str = ""


@dataclass(frozen=True, slots=True)
class OrderReplaceRequested:
    cl_ord_id: ClOrdID
    qty: Decimal
    price: Decimal | None


@dataclass(frozen=True, slots=True)
class OrderReplaced:
    """The venue's confirmation, carrying the quantity and price now in force."""

    cl_ord_id: ClOrdID
    qty: Decimal
    price: Decimal | None


@dataclass(frozen=True, slots=True)
class OrderReplaceRejected:
    text: str = ""


@dataclass(frozen=True, slots=True)
class OrderExpired:
    pass


OrderEvent = (
    OrderAccepted | OrderRejected | OrderFilled | OrderCancelRequested | OrderCanceled | OrderCancelRejected
    | OrderReplaceRequested | OrderReplaced | OrderReplaceRejected | OrderExpired
)


_EXEC_TYPE: dict[type, ExecType] = {
    OrderAccepted: ExecType.NEW,
    OrderRejected: ExecType.REJECTED,
    OrderFilled: ExecType.TRADE,
    OrderCancelRequested: ExecType.PENDING_CANCEL,
    OrderCanceled: ExecType.CANCELED,
    OrderReplaceRequested: ExecType.PENDING_REPLACE,
    OrderReplaced: ExecType.REPLACED,
    OrderExpired: ExecType.EXPIRED,
}


def exec_type_for(event: OrderEvent) -> ExecType | None:
    """ExecType (150) of the ExecutionReport an event produces; None for cancel/replace rejects (35=9)."""
    return _EXEC_TYPE.get(type(event))
