"""Accounts and positions: balances, buying power, equity and P&L from Redis quotes; money as strings."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from marketdata.quotes import Quote, now_us
from marketdata.redis_quotes import QuoteWriter

if TYPE_CHECKING:
    from tests.integration.api.conftest import Seed

D = Decimal


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_cash_account_with_quoted_position(client: httpx.AsyncClient, seed: Seed, redis_client: Any) -> None:
    await seed.account("A1", "cash", cash="10000.00", blocked="2500.00", owner="Ada Lovelace")
    await seed.holding("A1", "AAPL", qty="100", avg_cost="150", blocked_qty="40")
    await seed.fix_session("CLIENT1", "A1")
    await seed.fix_session("CLIENT9", "A1")
    await QuoteWriter(redis_client).write([Quote("AAPL", bid=D("159.9"), ask=D("160.1"), last=D("160.00"),
                                                 ingest_ts_us=now_us())])
    token = await seed.token("account", "A1")

    body = (await client.get("/v1/accounts/A1", headers=auth(token))).json()
    assert body["type"] == "cash" and body["owner_name"] == "Ada Lovelace"
    assert body["cash"] == "10000.0000" and body["blocked"] == "2500.0000"
    assert body["available_cash"] == "7500.0000"
    assert body["buying_power"] == "7500.0000"
    assert body["long_market_value"] == "16000.0000"
    assert body["equity"] == "26000.0000"
    assert body["unpriced_symbols"] == []
    assert body["fix_sessions"] == ["CLIENT1", "CLIENT9"]

    (position,) = (await client.get("/v1/accounts/A1/positions", headers=auth(token))).json()
    assert position["symbol"] == "AAPL" and position["side"] == "long"
    assert position["qty"] == "100.0000" and position["qty_available"] == "60.0000"
    assert D(position["avg_entry_price"]) == D("150")
    assert D(position["current_price"]) == D("160")
    assert position["market_value"] == "16000.0000"
    assert position["unrealized_pl"] == "1000.0000"
    assert position["price_as_of"] is not None and position["price_stale"] is False

    one = (await client.get("/v1/accounts/A1/positions/aapl", headers=auth(token))).json()
    assert one == position


async def test_position_without_quote_has_no_market_value(
    client: httpx.AsyncClient, seed: Seed, redis_client: Any
) -> None:
    await seed.account("A1", cash="0")
    await seed.holding("A1", "MSFT", qty="10", avg_cost="400")
    token = await seed.token("account", "A1")
    (position,) = (await client.get("/v1/accounts/A1/positions", headers=auth(token))).json()
    assert position["market_value"] is None and position["unrealized_pl"] is None
    assert position["price_stale"] is None
    assert position["cost_basis"] == "4000.0000"
    account = (await client.get("/v1/accounts/A1", headers=auth(token))).json()
    assert account["unpriced_symbols"] == ["MSFT"]
    assert account["long_market_value"] == "4000.0000"  # carried at cost


async def test_margin_account_reg_t_buying_power(client: httpx.AsyncClient, seed: Seed, redis_client: Any) -> None:
    await seed.account("M1", "margin", cash="100000", blocked="1000")
    await seed.holding("M1", "AAPL", qty="100", avg_cost="150", account_type="margin")
    await seed.holding("M1", "TSLA", qty="-10", avg_cost="250", account_type="margin")
    await QuoteWriter(redis_client).write([Quote("AAPL", last=D("200")), Quote("TSLA", last=D("200"))])
    token = await seed.token("admin")
    body = (await client.get("/v1/accounts/M1", headers=auth(token))).json()
    # equity = 100000 + 20000 - 2000 = 118000; initial requirement = 50% × 22000 = 11000
    # buying power = (118000 - 11000) / 0.5 - 1000 blocked = 213000
    assert body["type"] == "margin"
    assert body["long_market_value"] == "20000.0000"
    assert body["short_market_value"] == "-2000.0000"
    assert body["equity"] == "118000.0000"
    assert body["buying_power"] == "213000.0000"
    positions = {p["symbol"]: p for p in (await client.get("/v1/accounts/M1/positions", headers=auth(token))).json()}
    assert positions["TSLA"]["side"] == "short"
    assert positions["TSLA"]["unrealized_pl"] == "500.0000"
    assert positions["TSLA"]["price_stale"] is True  # the quote carries no ingest time


async def test_unknown_position_is_404_problem(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    token = await seed.token("account", "A1")
    response = await client.get("/v1/accounts/A1/positions/NVDA", headers=auth(token))
    assert response.status_code == 404
    assert response.json()["type"] == "https://brokerage.example/problems/position-not-found"


async def test_accounts_list_paginates_by_cursor(client: httpx.AsyncClient, seed: Seed) -> None:
    ids = [f"ACC{n:02d}" for n in range(7)]
    for account_id in reversed(ids):
        await seed.account(account_id)
    token = await seed.token("admin")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/accounts", params=params, headers=auth(token))).json()
        seen += [a["account_id"] for a in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3


async def test_limit_above_500_is_422_problem(client: httpx.AsyncClient, seed: Seed) -> None:
    token = await seed.token("admin")
    response = await client.get("/v1/accounts", params={"limit": 501}, headers=auth(token))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["query", "limit"]
