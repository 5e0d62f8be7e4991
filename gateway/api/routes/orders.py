"""Orders and fills of an account: filters by status, symbol and time; keyset cursor pagination on
``(created_at, id)``, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from gateway.api import queries
from gateway.api.deps import DbPool, Principal, VisibleAccountId
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
from gateway.api.schemas import OPEN_STATUSES, Fill, Order, OrderStatus, Page

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
