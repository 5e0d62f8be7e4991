"""Deposits and withdrawals: Idempotency-Key replay, problem+json on bad input, over-withdrawal figures."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest

if TYPE_CHECKING:
    from tests.integration.api.conftest import Seed

PROBLEMS = "https://brokerage.example/problems/"


def headers(token: str, key: str | None) -> dict[str, str]:
    out = {"Authorization": f"Bearer {token}"}
    if key is not None:
        out["Idempotency-Key"] = key
    return out


async def cash_of(pool: asyncpg.Pool, account_id: str) -> Decimal:
    return await pool.fetchval("SELECT amount FROM cash_balances WHERE account_id = $1", account_id)  # type: ignore[no-any-return]


async def test_deposit_then_withdraw(client: httpx.AsyncClient, seed: Seed, db_pool: asyncpg.Pool) -> None:
    await seed.account("A1", cash="100.00")
    token = await seed.token("operator")
    response = await client.post("/v1/accounts/A1/deposits", json={"amount": "250.50"}, headers=headers(token, "d1"))
    assert response.status_code == 201, response.text
    assert "idempotent-replayed" not in response.headers
    body = response.json()
    assert body["kind"] == "deposit" and body["account_id"] == "A1" and body["currency"] == "USD"
    assert Decimal(body["amount"]) == Decimal("250.50") and isinstance(body["amount"], str)
    assert Decimal(body["cash"]) == Decimal("350.50")
    response = await client.post("/v1/accounts/A1/withdrawals", json={"amount": 50}, headers=headers(token, "w1"))
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "withdrawal"
    assert Decimal(response.json()["cash"]) == Decimal("300.50")
    assert await cash_of(db_pool, "A1") == Decimal("300.50")


async def test_replay_returns_the_same_body_and_moves_money_once(
    client: httpx.AsyncClient, seed: Seed, db_pool: asyncpg.Pool
) -> None:
    await seed.account("A1", cash="0")
    token = await seed.token("operator")
    first = await client.post("/v1/accounts/A1/deposits", json={"amount": "75"}, headers=headers(token, "same"))
    again = await client.post("/v1/accounts/A1/deposits", json={"amount": "75"}, headers=headers(token, "same"))
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await cash_of(db_pool, "A1") == Decimal("75")

    reused = await client.post("/v1/accounts/A1/deposits", json={"amount": "76"}, headers=headers(token, "same"))
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["type"] == PROBLEMS + "idempotency-key-reused"
    assert await cash_of(db_pool, "A1") == Decimal("75")
    metrics = (await client.get("/metrics")).text
    for outcome, count in (("created", 1), ("replayed", 1), ("idempotency-key-reused", 1)):
        line = f'brokerage_api_cash_movements_total{{kind="deposit",outcome="{outcome}"}} {count:.1f}'
        assert line in metrics, line


async def test_missing_idempotency_key_is_400_problem(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    token = await seed.token("operator")
    for path in ("/v1/accounts/A1/deposits", "/v1/accounts/A1/withdrawals"):
        response = await client.post(path, json={"amount": "1"}, headers=headers(token, None))
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == PROBLEMS + "idempotency-key-missing"
    too_long = await client.post("/v1/accounts/A1/deposits", json={"amount": "1"}, headers=headers(token, "k" * 129))
    assert too_long.status_code == 400 and too_long.json()["type"] == PROBLEMS + "idempotency-key-invalid"


@pytest.mark.parametrize("body", [
    {"amount": "-5"}, {"amount": -5}, {"amount": "0"}, {"amount": "abc"}, {"amount": "12.34567"},
    {"amount": "NaN"}, {"amount": "Infinity"}, {"amount": True}, {"amount": None}, {}, {"amount": "1", "x": 1},
    {"amount": "1e20"}, {"amount": "1e400"}, {"amount": "9" * 30}, [1], "10",
])
async def test_bad_amount_is_422_problem_and_moves_nothing(
    client: httpx.AsyncClient, seed: Seed, db_pool: asyncpg.Pool, body: Any
) -> None:
    await seed.account("A1", cash="10")
    token = await seed.token("operator")
    response = await client.post("/v1/accounts/A1/deposits", json=body, headers=headers(token, "bad"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEMS + "validation-error" and problem["status"] == 422
    assert problem["errors"] and problem["errors"][0]["loc"][0] == "body"
    assert await cash_of(db_pool, "A1") == Decimal("10")


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"amount": NaN}', b"\xff\xfe"])
async def test_malformed_json_is_422_problem(client: httpx.AsyncClient, seed: Seed, raw: bytes) -> None:
    await seed.account("A1")
    token = await seed.token("operator")
    response = await client.post("/v1/accounts/A1/deposits", content=raw,
                                 headers={**headers(token, "m"), "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["type"] == PROBLEMS + "validation-error"


async def test_json_number_amount_is_exact(client: httpx.AsyncClient, seed: Seed, db_pool: asyncpg.Pool) -> None:
    await seed.account("A1")
    token = await seed.token("admin")
    # 17 significant digits: a binary float would round this to ...1234.5677 or similar
    response = await client.post("/v1/accounts/A1/deposits", content=b'{"amount": 123456789012.3457}',
                                 headers={**headers(token, "exact"), "Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert Decimal(response.json()["amount"]) == Decimal("123456789012.3457")
    assert await cash_of(db_pool, "A1") == Decimal("123456789012.3457")


async def test_unknown_account_is_404_problem(client: httpx.AsyncClient, seed: Seed) -> None:
    token = await seed.token("admin")
    response = await client.post("/v1/accounts/NOPE/deposits", json={"amount": "1"}, headers=headers(token, "u"))
    assert response.status_code == 404
    assert response.json()["type"] == PROBLEMS + "account-not-found"
    assert response.json()["account_id"] == "NOPE"


async def test_over_withdrawal_is_refused_with_the_figures(
    client: httpx.AsyncClient, seed: Seed, db_pool: asyncpg.Pool
) -> None:
    await seed.account("A1", cash="100.00", blocked="30.00")
    token = await seed.token("operator")
    response = await client.post("/v1/accounts/A1/withdrawals", json={"amount": "80.25"},
                                 headers=headers(token, "over"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEMS + "insufficient-funds"
    assert Decimal(problem["available"]) == Decimal("70.00") and isinstance(problem["available"], str)
    assert Decimal(problem["requested"]) == Decimal("80.25")
    assert problem["instance"] == "/v1/accounts/A1/withdrawals"
    assert await cash_of(db_pool, "A1") == Decimal("100.00")
    ok = await client.post("/v1/accounts/A1/withdrawals", json={"amount": "70"}, headers=headers(token, "ok"))
    assert ok.status_code == 201 and Decimal(ok.json()["available"]) == 0


async def test_concurrent_retries_with_one_key_move_money_once(
    client: httpx.AsyncClient, seed: Seed, db_pool: asyncpg.Pool
) -> None:
    await seed.account("A1", cash="0")
    token = await seed.token("operator")
    responses = await asyncio.gather(*[
        client.post("/v1/accounts/A1/deposits", json={"amount": "40"}, headers=headers(token, "retry"))
        for _ in range(8)
    ])
    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 7
    assert await cash_of(db_pool, "A1") == Decimal("40")


async def test_concurrent_withdrawals_never_overdraw(
    client: httpx.AsyncClient, seed: Seed, db_pool: asyncpg.Pool
) -> None:
    await seed.account("A1", cash="100")
    token = await seed.token("operator")
    responses = await asyncio.gather(*[
        client.post("/v1/accounts/A1/withdrawals", json={"amount": "30"}, headers=headers(token, f"w{n}"))
        for n in range(10)
    ])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 3 + [422] * 7
    refused = [r.json() for r in responses if r.status_code == 422]
    assert {p["type"] for p in refused} == {PROBLEMS + "insufficient-funds"}
    assert {Decimal(p["available"]) for p in refused} == {Decimal("10")}
    assert await cash_of(db_pool, "A1") == Decimal("10")


async def test_oversized_body_is_413_problem(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    token = await seed.token("operator")
    body = b'{"amount": "1", "pad": "' + b"x" * 10_000 + b'"}'
    response = await client.post("/v1/accounts/A1/deposits", content=body,
                                 headers={**headers(token, "big"), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["type"] == PROBLEMS + "payload-too-large"


async def test_cash_movements_history_filters_and_pages(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1", cash="0")
    await seed.account("B1", cash="0")
    token = await seed.token("account", "A1")
    admin = await seed.token("admin")
    amounts = ["10", "20.5", "30", "40", "50"]
    for n, amount in enumerate(amounts):
        r = await client.post("/v1/accounts/A1/deposits", json={"amount": amount}, headers=headers(admin, f"d{n}"))
        assert r.status_code == 201
    await client.post("/v1/accounts/A1/withdrawals", json={"amount": "5"}, headers=headers(admin, "w0"))
    await client.post("/v1/accounts/B1/deposits", json={"amount": "999"}, headers=headers(admin, "b"))

    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/v1/accounts/A1/cash-movements", params=params, headers=headers(token, None))).json()
        rows += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [(r["kind"], Decimal(r["amount"]), r["idempotency_key"]) for r in rows] == [
        ("withdrawal", Decimal("5"), "w0"),
        *[("deposit", Decimal(a), f"d{n}") for n, a in reversed(list(enumerate(amounts)))],
    ]
    assert {r["currency"] for r in rows} == {"USD"} and {r["account_id"] for r in rows} == {"A1"}

    withdrawals = (await client.get("/v1/accounts/A1/cash-movements", params={"kind": "withdrawal"},
                                    headers=headers(token, None))).json()
    assert [r["idempotency_key"] for r in withdrawals["data"]] == ["w0"]
    other = await client.get("/v1/accounts/B1/cash-movements", headers=headers(token, None))
    assert other.status_code == 404
    bad = await client.get("/v1/accounts/A1/cash-movements", params={"kind": "bonus"}, headers=headers(token, None))
    assert bad.status_code == 422


async def test_margin_withdrawal_values_positions_at_fresh_quotes(
    client: httpx.AsyncClient, seed: Seed, db_pool: asyncpg.Pool, redis_client: Any
) -> None:
    from marketdata.quotes import Quote, now_us
    from marketdata.redis_quotes import QuoteWriter

    # short 100 XYZ at 100 (20 000 cash, 10 000 of it short proceeds); at average cost 5 000 would look free
    await seed.account("M1", account_type="margin", cash="20000")
    await seed.holding("M1", "XYZ", "-100", "100", account_type="margin")
    token = await seed.token("operator")
    response = await client.post("/v1/accounts/M1/withdrawals", json={"amount": "1000"},
                                 headers=headers(token, "no-quote"))
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEMS + "price-unavailable" and problem["symbols"] == ["XYZ"]
    assert "XYZ" in problem["detail"]
    stale = now_us() - 3_600 * 1_000_000
    await QuoteWriter(redis_client).write([Quote("XYZ", last=Decimal("180"), ingest_ts_us=stale)])
    response = await client.post("/v1/accounts/M1/withdrawals", json={"amount": "1000"},
                                 headers=headers(token, "stale-quote"))
    assert response.status_code == 409 and response.json()["symbols"] == ["XYZ"]
    assert await cash_of(db_pool, "M1") == Decimal("20000")
    # the stock is now at 180: equity 2 000 against a 9 000 requirement, nothing may leave
    await QuoteWriter(redis_client).write([Quote("XYZ", last=Decimal("180"), ingest_ts_us=now_us())])
    response = await client.post("/v1/accounts/M1/withdrawals", json={"amount": "1000"},
                                 headers=headers(token, "marked"))
    assert response.status_code == 422, response.text
    assert response.json()["type"] == PROBLEMS + "insufficient-funds" and Decimal(response.json()["available"]) == 0
    assert await cash_of(db_pool, "M1") == Decimal("20000")
    # a cash account needs no marks: free cash is what may leave
    await seed.account("C1", cash="500")
    await seed.holding("C1", "NOQ", "10", "5")
    cash_token = await seed.token("operator")
    response = await client.post("/v1/accounts/C1/withdrawals", json={"amount": "500"},
                                 headers=headers(cash_token, "cash"))
    assert response.status_code == 201, response.text
