"""Accounts: list and get, with balances, buying power and equity valued at live quotes."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api import queries
from gateway.api.deps import AppSettings, DbPool, Principal, RedisClient
from gateway.api.listing import AccountIdPath, CursorParam, Limit, invalid_cursor
from gateway.api.pagination import DEFAULT_LIMIT, InvalidCursor, KeyCursor
from gateway.api.portfolio import valued_accounts
from gateway.api.problems import account_not_found, problem_responses
from gateway.api.schemas import Account, Page

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])

@router.get("", response_model=Page[Account], summary="Accounts this token may see, in id order")
async def list_accounts(
    principal: Principal, pool: DbPool, redis: RedisClient, settings: AppSettings,
    limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None,
) -> Page[Account]:
    try:
        after = KeyCursor.decode(cursor).after if cursor else None
    except InvalidCursor as exc:
        raise invalid_cursor(exc) from exc
    visible = None if principal.sees_all_accounts else principal.account_ids
    rows = await queries.accounts_page(pool, visible, after, limit)
    more = len(rows) > limit
    rows = rows[:limit]
    data = await valued_accounts(pool, redis, rows, settings)
    return Page(data=data, next_cursor=KeyCursor(rows[-1]["account_id"]).encode() if more else None)


@router.get("/{account_id}", response_model=Account, summary="One account",
            responses=problem_responses({404: "No such account, or not visible to this token"}))
async def get_account(
    account_id: AccountIdPath, principal: Principal, pool: DbPool, redis: RedisClient, settings: AppSettings
) -> Account:
    principal.require_account(account_id)
    row = await queries.account(pool, account_id)
    if row is None:
        raise account_not_found(account_id)
    (account,) = await valued_accounts(pool, redis, [row], settings)
    return account
