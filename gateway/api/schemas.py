"""Request and response bodies. Money, prices and quantities are ``Decimal`` and travel as JSON strings
(pydantic serializes ``Decimal`` as a string), so no client ever sees a binary float."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ledger.money import parse_amount

T = TypeVar("T")

AccountType = Literal["cash", "margin"]
OrderStatus = Literal[
    "pending_new", "new", "partially_filled", "filled", "pending_cancel", "canceled", "pending_replace",
    "replaced", "rejected", "expired", "done_for_day", "suspended",
]
OPEN_STATUSES: tuple[str, ...] = ("pending_new", "new", "partially_filled", "pending_cancel", "pending_replace")



def _ledger_amount(value: object) -> Decimal:
    try:
        return parse_amount(value)
    except ArithmeticError as exc:  # decimal.InvalidOperation: beyond the 28-digit context, e.g. "1e400"
        raise ValueError(f"invalid amount {str(value)[:40]!r}: out of range") from exc


# A cash movement amount, checked by the ledger's own rule (positive, finite, at most 4 decimals, below
# 1e15; floats refused) so the API and the ledger can never disagree on what an amount is.
CashAmount = Annotated[Decimal, BeforeValidator(_ledger_amount), Field(examples=["1000.00"])]


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class Account(BaseModel):
    account_id: str
    type: AccountType
    currency: str
    status: str
    owner_name: str
    cash: Decimal = Field(description="Cash balance, including what open orders hold.")
    blocked: Decimal = Field(description="Cash reserved by open buy orders.")
    available_cash: Decimal = Field(description="cash − blocked.")
    buying_power: Decimal
    equity: Decimal = Field(description="cash + long market value + short market value.")
    long_market_value: Decimal
    short_market_value: Decimal = Field(description="Zero or negative.")
    unpriced_symbols: list[str] = Field(description="Positions without a quote, carried at cost.")
    short_selling_enabled: bool
    kill_switch: bool
    margin_call_since: datetime | None
    fix_sessions: list[str] = Field(description="SenderCompIDs of the FIX client sessions that trade it.")
    created_at: datetime


class Position(BaseModel):
    account_id: str
    symbol: str
    side: Literal["long", "short"]
    qty: Decimal
    qty_available: Decimal = Field(description="qty less the shares held by open sell orders.")
    avg_entry_price: Decimal
    cost_basis: Decimal
    current_price: Decimal | None = Field(description="Quote mark: last, else mid, else previous close.")
    market_value: Decimal | None
    unrealized_pl: Decimal | None
    unrealized_plpc: Decimal | None = Field(description="Unrealized P&L over |cost basis|, as a fraction.")
    realized_pl: Decimal
    price_as_of: datetime | None = Field(description="When the quote was ingested.")
    price_stale: bool | None = Field(description="The quote is older than BROKERAGE_QUOTE_STALE_SECONDS (or has no "
                                                 "timestamp); null without a quote.")


class Order(BaseModel):
    order_id: str
    account_id: str
    session_id: str
    cl_ord_id: str = Field(description="The ClOrdID the order was entered with.")
    current_cl_ord_id: str | None = Field(default=None, description="The ClOrdID in force after cancel/replace.")
    orig_cl_ord_id: str | None
    symbol: str
    side: str
    ord_type: str
    time_in_force: str
    qty: Decimal
    price: Decimal | None
    stop_px: Decimal | None
    status: str
    cum_qty: Decimal
    leaves_qty: Decimal
    avg_px: Decimal
    reserved_cash: Decimal
    reserved_qty: Decimal
    venue_order_id: str | None
    reject_reason: int | None
    text: str | None
    created_at: datetime
    updated_at: datetime


class Fill(BaseModel):
    exec_id: str
    venue_exec_id: str | None
    order_id: str
    account_id: str
    exec_type: str
    ord_status: str
    symbol: str
    side: str
    last_qty: Decimal
    last_px: Decimal
    cum_qty: Decimal
    leaves_qty: Decimal
    avg_px: Decimal
    transact_time: datetime
    created_at: datetime


class CashMovementRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: CashAmount = Field(description="A positive decimal string (or JSON number), at most 4 decimals.")


class CashMovement(BaseModel):
    movement_id: int
    account_id: str
    kind: Literal["deposit", "withdrawal"]
    amount: Decimal
    currency: str
    cash: Decimal = Field(description="Cash balance after the movement.")
    blocked: Decimal
    available: Decimal
    created_at: datetime


class CashMovementRecord(BaseModel):
    movement_id: int
    account_id: str
    kind: Literal["deposit", "withdrawal"]
    amount: Decimal
    currency: str
    idempotency_key: str
    created_at: datetime


class HealthStatus(BaseModel):
    status: Literal["ok"]


class ReadyStatus(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]


class WhatIfRequest(BaseModel):
    """An order to evaluate, never placed: the words the ledger uses (``side``: buy, sell, sell_short;
    ``ord_type``: market, limit, stop, stop_limit; ``time_in_force``: day, gtc, ioc, fok)."""

    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9./-]+$", examples=["AAPL"])
    side: str = Field(max_length=16, examples=["buy"])
    ord_type: str = Field(default="limit", max_length=16, examples=["limit"])
    qty: Decimal = Field(gt=0, max_digits=16, decimal_places=4, examples=["100"])
    price: Decimal | None = Field(default=None, gt=0, max_digits=16, decimal_places=4, examples=["190.50"])
    stop_px: Decimal | None = Field(default=None, gt=0, max_digits=16, decimal_places=4)
    time_in_force: str = Field(default="day", max_length=16)


class WhatIfResult(BaseModel):
    decision: Literal["accept", "reject"]
    reject_reason: int | None = Field(description="The OrdRejReason (103) a real order would get; null when accepted.")
    rule: str | None = Field(description="The risk rule that rejects (e.g. buying_power); null when accepted.")
    text: str | None = Field(description="The reject Text (58) a real order would get; null when accepted.")
    valuation_price: Decimal | None = Field(description="Limit price, or a market/stop order's collar price.")
    blocked_cash: Decimal = Field(description="Buying power the order would block.")
    blocked_qty: Decimal = Field(description="Shares the order would block (long sells).")
    buying_power_before: Decimal
    buying_power_after: Decimal = Field(description="After the block is taken (while the order works).")
    equity_before: Decimal
    equity_after: Decimal = Field(description="After a full fill at the valuation price, marked at the live mark.")
    maintenance_margin_before: Decimal = Field(description="Maintenance requirement (margin accounts; 0 for cash).")
    maintenance_margin_after: Decimal
    margin_call_after: bool = Field(description="Equity below the maintenance requirement after the fill.")
