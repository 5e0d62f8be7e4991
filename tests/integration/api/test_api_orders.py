"""Orders and fills: filters by status, symbol and time; cursor pagination over (created_at, id)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from tests.integration.api.conftest import Seed

PROBLEMS = "https://brokerage.example/problems/"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def walk(client: httpx.AsyncClient, path: str, token: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every row of a paginated list, following next_cursor; returns the rows and the page count."""
    rows: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query, headers=auth(token))
        assert response.status_code == 200, response.text
        page = response.json()
        rows += page["data"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return rows, pages


async def test_orders_cursor_pagination_newest_first_without_gaps(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    token = await seed.token("account", "A1")
    # 11 orders, some sharing a timestamp: the id breaks the tie so nothing repeats or goes missing
    expected = [await seed.order("A1", "AAPL", "new", seed.at(n // 2)) for n in range(11)]
    rows, pages = await walk(client, "/v1/accounts/A1/orders", token, limit=4)
    assert pages == 3
    got = [r["order_id"] for r in rows]
    assert sorted(got) == sorted(expected) and len(set(got)) == 11
    keys = [(r["created_at"], r["order_id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)


async def test_rows_arriving_between_pages_neither_repeat_nor_skip(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    token = await seed.token("account", "A1")
    old = [await seed.order("A1", "AAPL", "new", seed.at(n)) for n in range(4)]
    first = (await client.get("/v1/accounts/A1/orders", params={"limit": 2}, headers=auth(token))).json()
    await seed.order("A1", "AAPL", "new", seed.at(100))  # newer than the cursor: not on later pages
    second = (await client.get("/v1/accounts/A1/orders", params={"limit": 2, "cursor": first["next_cursor"]},
                               headers=auth(token))).json()
    assert [r["order_id"] for r in first["data"] + second["data"]] == old[::-1]


async def test_orders_filters(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    await seed.account("A2")
    token = await seed.token("account", "A1", "A2")
    filled = await seed.order("A1", "AAPL", "filled", seed.at(1))
    working = await seed.order("A1", "AAPL", "partially_filled", seed.at(2))
    msft = await seed.order("A1", "MSFT", "new", seed.at(3))
    canceled = await seed.order("A1", "MSFT", "canceled", seed.at(4))
    await seed.order("A2", "AAPL", "new", seed.at(5))  # another account's order never shows

    async def ids(**params: Any) -> list[str]:
        rows, _ = await walk(client, "/v1/accounts/A1/orders", token, **params)
        return [r["order_id"] for r in rows]

    assert await ids() == [canceled, msft, working, filled]
    assert await ids(symbol="aapl") == [working, filled]
    assert await ids(status="filled") == [filled]
    assert await ids(status=["filled", "canceled"]) == [canceled, filled]
    assert await ids(status="open") == [msft, working]
    assert await ids(**{"from": seed.at(2).isoformat(), "to": seed.at(4).isoformat()}) == [msft, working]
    assert await ids(**{"from": "2026-03-02T14:33:00"}) == [canceled, msft]  # no offset: UTC
    assert await ids(status="open", symbol="MSFT") == [msft]


async def test_order_by_id_and_its_decimal_fields(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    token = await seed.token("account", "A1")
    order_id = await seed.order("A1", "AAPL", "new", seed.at(0), qty="12.5", price="187.25",
                                current_cl_ord_id="REPLACED-1")
    body = (await client.get(f"/v1/accounts/A1/orders/{order_id}", headers=auth(token))).json()
    assert body["qty"] == "12.5000" and body["price"] == "187.250000" and body["leaves_qty"] == "12.5000"
    assert body["current_cl_ord_id"] == "REPLACED-1" and body["cl_ord_id"] != "REPLACED-1"
    missing = await client.get("/v1/accounts/A1/orders/NOPE", headers=auth(token))
    assert missing.status_code == 404 and missing.json()["type"] == PROBLEMS + "order-not-found"


async def test_fills_filters_and_pagination(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    token = await seed.token("account", "A1")
    aapl = await seed.order("A1", "AAPL", "partially_filled", seed.at(0), qty="1000")
    msft = await seed.order("A1", "MSFT", "partially_filled", seed.at(0), qty="1000")
    aapl_fills = [await seed.fill(aapl, "10", "190.5", seed.at(n)) for n in range(1, 6)]
    msft_fills = [await seed.fill(msft, "5", "410", seed.at(n)) for n in range(6, 9)]

    rows, pages = await walk(client, "/v1/accounts/A1/fills", token, limit=3)
    assert pages == 3
    assert [r["exec_id"] for r in rows] == (aapl_fills + msft_fills)[::-1]
    assert rows[-1]["last_qty"] == "10.0000" and rows[-1]["last_px"] == "190.500000"

    rows, _ = await walk(client, "/v1/accounts/A1/fills", token, symbol="MSFT")
    assert [r["exec_id"] for r in rows] == msft_fills[::-1]
    rows, _ = await walk(client, "/v1/accounts/A1/fills", token, order_id=aapl,
                         **{"from": seed.at(2).isoformat(), "to": seed.at(4).isoformat()})
    assert [r["exec_id"] for r in rows] == aapl_fills[1:3][::-1]


async def test_bad_list_parameters_are_problems(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    token = await seed.token("account", "A1")
    path = "/v1/accounts/A1/orders"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"cursor": "not-a-cursor"}, 422, "invalid-cursor"),
        ({"limit": 0}, 422, "validation-error"),
        ({"limit": 501}, 422, "validation-error"),
        ({"status": "sideways"}, 422, "validation-error"),
        ({"from": "yesterday"}, 422, "validation-error"),
        ({"from": seed.at(5).isoformat(), "to": seed.at(1).isoformat()}, 422, "invalid-time-range"),
    ]
    for params, status, slug in cases:
        response = await client.get(path, params=params, headers=auth(token))
        assert response.status_code == status, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == PROBLEMS + slug


async def test_malformed_identifiers_are_problems_not_crashes(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    token = await seed.token("admin")
    cases = [
        ("GET", "/v1/accounts/A%00B", 422),
        ("GET", "/v1/accounts/" + "A" * 33, 422),
        ("GET", "/v1/accounts/A%00B/orders", 422),
        ("GET", "/v1/accounts/A1/orders/O%00", 422),
        ("GET", "/v1/accounts/A1/fills?order_id=O%00", 422),
        ("GET", "/v1/accounts/A1/positions/A%00", 422),
        ("GET", "/v1/accounts/A1/cash-movements?cursor=eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMCswMDowMCIsImlkIjoiXHUwMDAwIn0",
         422),
        ("POST", "/v1/accounts/A%00B/deposits", 422),
    ]
    for method, path, status in cases:
        response = await client.request(method, path, json={"amount": "1"},
                                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k"})
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
