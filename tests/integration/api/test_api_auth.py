"""Bearer-token auth: 401 problem+json with WWW-Authenticate; an account token sees only its accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest

if TYPE_CHECKING:
    from tests.integration.api.conftest import Seed

PROBLEMS = "https://brokerage.example/problems/"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"},
                                     {"Authorization": "Bearer brk_not_a_real_token"}])
async def test_missing_or_unknown_token_is_401_problem(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/v1/accounts", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    presented = headers.get("Authorization", "").startswith("Bearer ")
    assert ('error="invalid_token"' in response.headers["www-authenticate"]) == presented
    body = response.json()
    assert body["type"] == PROBLEMS + "unauthorized"
    assert body["status"] == 401 and body["instance"] == "/v1/accounts"


async def test_revoked_token_is_401(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    token = await seed.token("account", "A1", revoked=True)
    assert (await client.get("/v1/accounts/A1", headers=auth(token))).status_code == 401


async def test_account_token_sees_only_its_accounts(client: httpx.AsyncClient, seed: Seed) -> None:
    for a in ("A1", "A2", "B1"):
        await seed.account(a, cash="100")
    mine = await seed.token("account", "A1", "A2")
    admin = await seed.token("admin")
    listed = (await client.get("/v1/accounts", headers=auth(mine))).json()
    assert [a["account_id"] for a in listed["data"]] == ["A1", "A2"]
    everything = (await client.get("/v1/accounts", headers=auth(admin))).json()
    assert [a["account_id"] for a in everything["data"]] == ["A1", "A2", "B1"]


@pytest.mark.parametrize("path", ["/v1/accounts/B1", "/v1/accounts/B1/positions", "/v1/accounts/B1/orders",
                                  "/v1/accounts/B1/fills", "/v1/accounts/B1/positions/AAPL"])
async def test_another_accounts_resource_is_404_like_a_missing_one(
    client: httpx.AsyncClient, seed: Seed, path: str
) -> None:
    await seed.account("A1")
    await seed.account("B1")
    token = await seed.token("account", "A1")
    other = await client.get(path, headers=auth(token))
    missing = await client.get(path.replace("B1", "NOPE"), headers=auth(token))
    assert other.status_code == missing.status_code == 404
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == missing.json()["type"] == PROBLEMS + "account-not-found"


async def test_another_accounts_deposit_is_404_and_moves_nothing(
    client: httpx.AsyncClient, seed: Seed, db_pool: asyncpg.Pool
) -> None:
    await seed.account("A1")
    await seed.account("B1", cash="50")
    token = await seed.token("account", "A1")
    response = await client.post("/v1/accounts/B1/deposits", json={"amount": "10"},
                                 headers={**auth(token), "Idempotency-Key": "k1"})
    assert response.status_code == 404
    assert await db_pool.fetchval("SELECT amount FROM cash_balances WHERE account_id = 'B1'") == 50


async def test_compliance_token_reads_all_but_cannot_move_cash(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    token = await seed.token("compliance")
    assert (await client.get("/v1/accounts/A1", headers=auth(token))).status_code == 200
    response = await client.post("/v1/accounts/A1/deposits", json={"amount": "10"},
                                 headers={**auth(token), "Idempotency-Key": "k1"})
    assert response.status_code == 403
    assert response.json()["type"] == PROBLEMS + "forbidden"
