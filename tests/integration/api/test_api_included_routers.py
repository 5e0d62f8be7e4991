"""Routers of other packages mounted on the API: compliance reports behind the compliance/admin role,
ticker search; both answer errors as problem+json through the API's handlers."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI

from brokerage.settings import Settings
from marketdata.quotes import Quote, now_us
from marketdata.redis_quotes import QuoteWriter
from search.index import open_ticker_index
from search.universe import universe_listings

if TYPE_CHECKING:
    from tests.integration.api.conftest import Seed

PROBLEMS = "https://brokerage.example/problems/"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_compliance_reports_need_a_compliance_or_admin_token(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    account_token = await seed.token("account", "A1")
    compliance = await seed.token("compliance")
    admin = await seed.token("admin")

    assert (await client.get("/v1/compliance/reports")).status_code == 401
    refused = await client.get("/v1/compliance/reports", headers=auth(account_token))
    assert refused.status_code == 403 and refused.json()["type"] == PROBLEMS + "forbidden"
    for token in (compliance, admin):
        listed = await client.get("/v1/compliance/reports", headers=auth(token))
        assert listed.status_code == 200
        assert "wash-sales" in listed.json()["reports"]


async def test_unknown_compliance_report_is_404_problem(client: httpx.AsyncClient, seed: Seed) -> None:
    token = await seed.token("compliance")
    response = await client.get("/v1/compliance/reports/no-such-report",
                                params={"from": "2026-01-01", "to": "2026-02-01"}, headers=auth(token))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEMS + "not-found"
    assert "unknown report" in response.json()["detail"]


async def test_search_is_mounted(client: httpx.AsyncClient, seed: Seed) -> None:
    # the fixture's data dir is empty: the ticker index is built there on first use
    token = await seed.token("operator")
    response = await client.get("/v1/search", params={"q": "AAPL"}, headers=auth(token))
    assert response.status_code == 200
    assert response.json()["results"][0]["symbol"] == "AAPL"
    bad = await client.get("/v1/search", params={"q": ""}, headers=auth(token))
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


async def test_search_answers_from_an_index_built_in_the_data_dir(
    api_app: FastAPI, api_settings: Settings, redis_client: aioredis.Redis, seed: Seed
) -> None:
    token = await seed.token("account")
    index = open_ticker_index(api_settings, create=True)
    await index.replace_all(universe_listings())
    await index.close()
    await QuoteWriter(redis_client).write([Quote("AAPL", last=Decimal("190.01"), ingest_ts_us=now_us())])
    async with api_app.router.lifespan_context(api_app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app), base_url="http://api.test"
    ) as http:
        response = await http.get("/v1/search", params={"q": "AAPL", "limit": 3}, headers=auth(token))
    assert response.status_code == 200
    first = response.json()["results"][0]
    assert first["symbol"] == "AAPL" and Decimal(first["quote"]["last"]) == Decimal("190.01")
