"""Vocabulary of the matching engine: order enums, reject/cancel reasons with their FIX codes, and the
events an engine call returns (past tense, one per state change of one order).

Prices are integer ticks and quantities integer shares inside the engine; ``Venue`` converts to and
from ``Decimal`` at the boundary. Events are plain slotted classes (cheap to create in the hot loop)
and are never mutated after creation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

BUY = 1  # FIX Side(54)=1
SELL = 2  # FIX Side(54)=2


class OrdType(IntEnum):
    """FIX OrdType(40)."""

    MARKET = 1
    LIMIT = 2
    STOP = 3
    STOP_LIMIT = 4
    # not a FIX code: FIX 4.4 sends a trailing stop as 40=P (pegged) with 18=a (trailing stop peg) and the trail
    # distance in 211 PegOffsetValue (fix_specs/order-types.md); the engine keeps it apart from plain pegs
    TRAILING_STOP = 80


class TimeInForce(IntEnum):
    """FIX TimeInForce(59)."""

    DAY = 0
    GTC = 1
    IOC = 3
    FOK = 4
    AT_THE_CLOSE = 7  # market-on-close (40=1) / limit-on-close (40=2): executed in the closing auction only


class SelfTradePrevention(IntEnum):
    """What the engine does when an order would match a resting order of the same owner (the FIX account, tag 1);
    the incoming order's mode decides. On the wire: user-defined tag 7940 (fix_specs/order-types.md)."""

    CANCEL_NEWEST = 1  # the incoming order's remainder is canceled, the resting order stays
    CANCEL_OLDEST = 2  # the resting order is canceled, the incoming order goes on matching
    CANCEL_BOTH = 3  # both are canceled


class RejectReason(Enum):
    """Why an order was refused: (FIX OrdRejReason(103) code, text for Text(58))."""

    UNKNOWN_SYMBOL = (1, "unknown symbol")
    EXCHANGE_CLOSED = (2, "exchange closed")
    DUPLICATE_ORDER = (6, "duplicate ClOrdID")
    UNSUPPORTED_ORDER = (11, "unsupported order characteristic")
    INCORRECT_QUANTITY = (13, "quantity must be a positive whole number of shares")
    NOT_LOT_MULTIPLE = (13, "quantity is not a multiple of the lot size")
    INVALID_PRICE_INCREMENT = (18, "price is not a multiple of the tick size")
    MISSING_PRICE = (99, "limit price required for this order type")
    NON_POSITIVE_PRICE = (99, "price must be positive")
    MISSING_STOP_PRICE = (99, "stop price required for this order type")
    NO_LIQUIDITY = (99, "market order with no liquidity on the opposite side")
    NO_TRAIL_REFERENCE = (99, "trailing stop with no last trade or quote to trail")
    INVALID_TRAIL = (99, "trailing stop needs a positive trail distance (PegOffsetValue) on the tick")
    OTHER = (99, "invalid order")

    @property
    def code(self) -> int:
        return self.value[0]

    @property
    def text(self) -> str:
        return self.value[1]


class CancelRejectReason(Enum):
    """Why a cancel or replace was refused: (FIX CxlRejReason(102) code, text)."""

    TOO_LATE = (0, "order already done")
    UNKNOWN_ORDER = (1, "unknown order")
    DUPLICATE_CLORDID = (6, "duplicate ClOrdID")
    INCORRECT_QUANTITY = (99, "new quantity must be above the filled quantity and a multiple of the lot size")
    INVALID_PRICE = (99, "new price missing, not positive or not a multiple of the tick size")
    UNSUPPORTED = (99, "this change is not supported (side, symbol or order type)")
    OTHER = (99, "request refused")

    @property
    def code(self) -> int:
        return self.value[0]

    @property
    def text(self) -> str:
        return self.value[1]


class CancelReason(Enum):
    """Why the engine (or the owner) took the remaining quantity off the book; text for Text(58)."""

    REQUESTED = "canceled on request"
    IOC_REMAINDER = "immediate-or-cancel remainder canceled"
    FOK_UNFILLABLE = "fill-or-kill order could not be filled in full"
    NO_LIQUIDITY = "market order remainder canceled: no more liquidity"
    SELF_TRADE_NEWEST = "self-trade prevention (cancel newest): the order would have matched a resting order " \
                        "of the same account"
    SELF_TRADE_OLDEST = "self-trade prevention (cancel oldest): a newer order of the same account would have " \
                        "matched this one"
    SELF_TRADE_BOTH = "self-trade prevention (cancel both): two orders of the same account would have matched"

    @property
    def self_trade(self) -> bool:
        return self in _SELF_TRADE


_SELF_TRADE = frozenset({CancelReason.SELF_TRADE_NEWEST, CancelReason.SELF_TRADE_OLDEST,
                         CancelReason.SELF_TRADE_BOTH})


@dataclass(slots=True)
class OrderAccepted:
    order_id: int
    leaves: int


@dataclass(slots=True)
class OrderRejected:
    order_id: int
    reason: RejectReason


@dataclass(slots=True)
class OrderFilled:
    """One side of a trade. ``cum_notional`` (ticks × shares) lets the edge compute AvgPx exactly."""

    order_id: int
    match_id: int
    last_qty: int
    last_px: int
    leaves: int
    cum: int
    cum_notional: int
    aggressor: bool


@dataclass(slots=True)
class OrderCanceled:
    order_id: int
    canceled_qty: int
    cum: int
    cum_notional: int
    reason: CancelReason


@dataclass(slots=True)
class OrderReplaced:
    order_id: int
    qty: int
    price: int | None
    stop_px: int | None
    leaves: int
    cum: int
    cum_notional: int
    kept_priority: bool


@dataclass(slots=True)
class OrderExpired:
    order_id: int
    expired_qty: int
    cum: int
    cum_notional: int


@dataclass(slots=True)
class StopTriggered:
    order_id: int
    last_px: int


@dataclass(slots=True)
class CancelRejected:
    order_id: int
    reason: CancelRejectReason
    is_replace: bool


Event = (
    OrderAccepted
    | OrderRejected
    | OrderFilled
    | OrderCanceled
    | OrderReplaced
    | OrderExpired
    | StopTriggered
    | CancelRejected
)
