"""Orders and fills of an account: filters by status, symbol and time; keyset cursor pagination on
``(created_at, id)``, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from gateway.api import queries
from gateway.api.deps import AppSettings, DbPool, Principal, RedisClient, VisibleAccountId
from gateway.api.listing import (
    AccountIdPath,
    CursorParam,
    FromParam,
    Limit,
    OrderIdParam,
    OrderIdPath,
    SymbolParam,
    ToParam,
    decode_cursor,
    page,
    time_range,
)
from gateway.api.pagination import DEFAULT_LIMIT
from gateway.api.problems import Problem
from gateway.api.schemas import OPEN_STATUSES, Fill, Order, OrderStatus, Page, WhatIfRequest, WhatIfResult
from gateway.oms.config import maintenance_policy
from gateway.oms.context import RiskInputs
from gateway.oms.fix_codec import NewOrderCommand
from gateway.oms.model import ClOrdID, OrdType, Side, TimeInForce, UnknownCode
from gateway.oms.whatif import WhatIfRefused, what_if
from ledger.errors import AccountNotFound
from marketdata.redis_quotes import QuoteReader
from refdata.instruments import universe_by_symbol

router = APIRouter(prefix="/v1/accounts/{account_id}", tags=["orders"])

StatusParam = Annotated[
    list[Literal[OrderStatus, "open"]] | None,
    Query(description="Repeatable. An order status, or `open` for every working status."),
]


def _statuses(requested: Sequence[str] | None) -> tuple[str, ...] | None:
    if not requested:
        return None
    out: set[str] = set()
    for status in requested:
        out.update(OPEN_STATUSES if status == "open" else (status,))
    return tuple(sorted(out))


def _filter(symbol: str | None, start: datetime | None, end: datetime | None,
            statuses: tuple[str, ...] | None = None) -> queries.RowFilter:
    start, end = time_range(start, end)
    return queries.RowFilter(symbol.upper() if symbol else None, start, end, statuses)


@router.get("/orders", response_model=Page[Order], summary="Orders, newest first")
async def list_orders(
    account_id: VisibleAccountId, pool: DbPool,
    status: StatusParam = None, symbol: SymbolParam = None, start: FromParam = None, end: ToParam = None,
    limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None,
) -> Page[Order]:
    where = _filter(symbol, start, end, _statuses(status))
    after = decode_cursor(cursor)
    rows, next_cursor = page(await queries.orders_page(pool, account_id, where, after, limit), limit, "order_id")
    return Page(data=[Order.model_validate(dict(r)) for r in rows], next_cursor=next_cursor)


@router.get("/orders/{order_id}", response_model=Order, summary="One order")
async def get_order(account_id: AccountIdPath, order_id: OrderIdPath, principal: Principal, pool: DbPool) -> Order:
    principal.require_account(account_id)
    row = await queries.order(pool, account_id, order_id)
    if row is None:
        raise Problem(404, "order-not-found", "Order not found", f"No order {order_id!r} in account {account_id!r}.",
                      account_id=account_id, order_id=order_id)
    return Order.model_validate(dict(row))


@router.get("/fills", response_model=Page[Fill], summary="Fills (executions that traded), newest first")
async def list_fills(
    account_id: VisibleAccountId, pool: DbPool,
    symbol: SymbolParam = None, start: FromParam = None, end: ToParam = None,
    order_id: OrderIdParam = None,
    limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None,
) -> Page[Fill]:
    where = _filter(symbol, start, end)
    after = decode_cursor(cursor)
    rows, next_cursor = page(
        await queries.fills_page(pool, account_id, where, after, limit, order_id), limit, "exec_id"
    )
    return Page(data=[Fill.model_validate(dict(r)) for r in rows], next_cursor=next_cursor)


@router.post("/orders/whatif", response_model=WhatIfResult, summary="What an order would do; nothing is placed",
             responses={404: {"description": "No such account, or not visible to this token"},
                        422: {"description": "Not an order (unknown side, order type or time in force)"}})
async def what_if_order(account_id: VisibleAccountId, body: WhatIfRequest, pool: DbPool, redis: RedisClient,
                        settings: AppSettings) -> WhatIfResult:
    """The pre-trade risk decision a real order would get, the block it would take, and the account's buying
    power, equity, maintenance margin and margin-call state before and after (``gateway/oms/whatif.py``)."""
    try:
        cmd = NewOrderCommand(cl_ord_id=ClOrdID("WHATIF"), account=account_id, symbol=body.symbol.upper(),
                              side=Side.from_ledger(body.side), ord_type=OrdType.from_ledger(body.ord_type),
                              time_in_force=TimeInForce.from_ledger(body.time_in_force), qty=body.qty,
                              price=body.price, stop_px=body.stop_px, poss_resend=False)
    except UnknownCode as error:
        raise Problem(422, "invalid-order", "Invalid order", str(error), account_id=account_id) from error
    try:
        result = await what_if(pool, RiskInputs(settings, QuoteReader(redis)), universe_by_symbol(),
                               maintenance_policy(settings), account_id, cmd)
    except WhatIfRefused as refused:
        raise Problem(422, "invalid-order", "Invalid order", refused.text, account_id=account_id) from refused
    except AccountNotFound as error:
        raise Problem(404, "account-not-found", "Account not found", str(error), account_id=account_id) from error
    return WhatIfResult(
        decision="accept" if result.accepted else "reject",
        reject_reason=int(result.reject_reason.value) if result.reject_reason is not None else None,
        rule=result.rule or None, text=result.text or None, valuation_price=result.valuation_price,
        blocked_cash=result.blocked_cash, blocked_qty=result.blocked_qty,
        buying_power_before=result.buying_power_before, buying_power_after=result.buying_power_after,
        equity_before=result.equity_before, equity_after=result.equity_after,
        maintenance_margin_before=result.maintenance_before, maintenance_margin_after=result.maintenance_after,
        margin_call_after=result.margin_call_after)
