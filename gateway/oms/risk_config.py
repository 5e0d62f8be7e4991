"""What the pre-trade risk check is given (limits, context) and what it answers (pure data).

``RiskLimits`` is configured per account (the defaults suit a retail demo); ``RiskContext`` is the account's
state as read inside the order-entry transaction (balances locked), plus the market's state at arrival.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from gateway.oms.model import OrdRejReason
from ledger.buying_power import REG_T, MarginPolicy
from ledger.fills import AccountType, Position
from ledger.reservations import CashBalance, OrderReservation
from marketdata.quotes import Quote

__all__ = ["Accepted", "Rejected", "RiskContext", "RiskDecision", "RiskLimits", "RiskRule"]


class RiskRule(Enum):
    """Every pre-trade rule (order validation, then risk) with the OrdRejReason (103) it answers with;
    the rule's label leads the Text (58)."""

    UNKNOWN_SYMBOL = ("unknown symbol", OrdRejReason.UNKNOWN_SYMBOL)
    LOT_SIZE = ("invalid quantity", OrdRejReason.INCORRECT_QUANTITY)
    TICK_SIZE = ("invalid price", OrdRejReason.OTHER)
    TIME_IN_FORCE = ("unsupported time in force", OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC)
    KILL_SWITCH = ("kill switch", OrdRejReason.BROKER_CREDIT)
    TRADING_HALT = ("trading halt", OrdRejReason.EXCHANGE_CLOSED)
    MARKET_HOURS = ("market closed", OrdRejReason.EXCHANGE_CLOSED)
    SHORT_SELLING = ("short selling not allowed", OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC)
    MAX_ORDER_QTY = ("max order quantity", OrdRejReason.INCORRECT_QUANTITY)
    NO_REFERENCE_PRICE = ("no reference price", OrdRejReason.OTHER)
    PRICE_COLLAR = ("price collar", OrdRejReason.OTHER)
    MAX_ORDER_NOTIONAL = ("max order notional", OrdRejReason.ORDER_EXCEEDS_LIMIT)
    MAX_OPEN_ORDERS = ("max open orders", OrdRejReason.ORDER_EXCEEDS_LIMIT)
    POSITION_LIMIT = ("position limit", OrdRejReason.ORDER_EXCEEDS_LIMIT)
    INSUFFICIENT_SHARES = ("insufficient shares", OrdRejReason.BROKER_CREDIT)
    BUYING_POWER = ("insufficient buying power", OrdRejReason.BROKER_CREDIT)

    def __init__(self, label: str, reason: OrdRejReason) -> None:
        self.label, self.reason = label, reason


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_order_qty: Decimal = Decimal(100_000)
    max_order_notional: Decimal = Decimal(1_000_000)
    # A limit price more than this fraction through the reference (last, else mid, else previous close)
    # on the aggressive side is a fat finger; a passive price far away harms no one.
    price_collar_pct: Decimal = Decimal("0.10")
    # Market (and stop) orders are valued at ask (else last) × (1 + this), the price they could reach.
    market_order_collar_pct: Decimal = Decimal("0.05")
    max_position_qty: Decimal = Decimal(1_000_000)  # |position + open orders + this order|, per symbol
    max_open_orders: int = 500
    short_selling: bool = False
    # Reg T: a short sale needs 150% of its value in the account; the 100% proceeds stay as cash, so
    # the equity it consumes is (short_requirement − 1) × value.
    short_requirement: Decimal = Decimal("1.5")
    margin: MarginPolicy = REG_T
    allow_reducing_when_killed: bool = True
    max_quote_age_seconds: float = 5.0  # an older quote is no reference (market valuation, price collar)

    def __post_init__(self) -> None:
        for name in ("max_order_qty", "max_order_notional", "max_position_qty"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
                raise ValueError(f"{name} must be a positive Decimal, got {value!r}")
        for name in ("price_collar_pct", "market_order_collar_pct"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not (0 <= value < 1):
                raise ValueError(f"{name} must be a Decimal fraction in [0, 1), got {value!r}")
        if self.max_open_orders < 1:
            raise ValueError(f"max_open_orders must be at least 1, got {self.max_open_orders}")
        if not isinstance(self.short_requirement, Decimal) or self.short_requirement < 1:
            raise ValueError(f"short_requirement must be a Decimal >= 1, got {self.short_requirement!r}")


@dataclass(frozen=True, slots=True)
class RiskContext:
    account_type: AccountType
    cash: CashBalance  # cash and what open orders already block
    position: Position  # this symbol's holding (qty signed, blocked_qty by open sells)
    quote: Quote | None  # this symbol's live quote at arrival
    now_us: int | None = None  # arrival time (µs since the epoch, UTC), to judge the quote's age; None: don't
    positions: tuple[Position, ...] = ()  # every holding, to value margin equity
    marks: Mapping[str, Decimal] = field(default_factory=dict)  # live marks of those holdings
    open_orders: int = 0  # the account's open orders
    open_buy_qty: Decimal = Decimal(0)  # leaves of this symbol's open buys / sells
    open_sell_qty: Decimal = Decimal(0)
    account_killed: bool = False
    global_killed: bool = False
    halted: bool = False  # market-wide circuit breaker (or a halt of this symbol)
    halt_reason: str = ""  # the active halts' reasons (trading_controls 'halt'), for the reject's Text
    market_open: bool = True
    market_note: str = ""  # why it is closed (``market_hours.MarketStatus.reason``), for the reject text
    valuation_problem: str = ""  # margin: "valuation unavailable: stale quote for X" (no buying power then)


@dataclass(frozen=True, slots=True)
class Accepted:
    reservation: OrderReservation  # what to block for the order's leaves quantity
    valuation_price: Decimal  # limit price, or the collar price of a market/stop order
    extra_cash: Decimal = Decimal(0)  # replaces: signed change of the block (negative releases)
    extra_shares: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Rejected:
    rule: RiskRule
    text: str

    @property
    def reason(self) -> OrdRejReason:
        return self.rule.reason


RiskDecision = Accepted | Rejected
