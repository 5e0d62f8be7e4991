"""GET /v1/search through the router, on a real Redis (quotes, cache) and a real tantivy index."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from gateway.api.problems import install_problem_handlers
from gateway.api.routes.search import router
from marketdata.quotes import Quote, now_us
from marketdata.redis_quotes import QuoteWriter
from search.service import CACHE_PREFIX, SearchService
from search.tantivy_index import TantivyTickerIndex
from search.universe import universe_listings


@pytest.fixture(scope="module")
async def tantivy_index(tmp_path_factory: pytest.TempPathFactory) -> TantivyTickerIndex:
    index = TantivyTickerIndex.open(tmp_path_factory.mktemp("api") / "tantivy", create=True)
    await index.replace_all(universe_listings())
    return index


@pytest.fixture
def service(tantivy_index: TantivyTickerIndex, redis_client: aioredis.Redis) -> SearchService:
    return SearchService(tantivy_index, redis_client, cache_ttl_seconds=30)


@pytest.fixture
async def client(service: SearchService) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.state.search_service = service
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def test_results_are_hydrated_with_live_quotes(client: httpx.AsyncClient, redis_client: aioredis.Redis) -> None:
    now = now_us()
    await QuoteWriter(redis_client).write([
        Quote("AAPL", bid=Decimal("189.10"), ask=Decimal("189.12"), last=Decimal("189.11"),
              exchange_ts_us=now - 1000, ingest_ts_us=now),
    ])
    response = await client.get("/v1/search", params={"q": "AP", "limit": 5})
    assert response.status_code == 200
    body = response.json()
    first = body["results"][0]
    assert (first["symbol"], first["name"], first["exchange"]) == ("AAPL", "Apple Inc.", "NASDAQ")
    assert Decimal(first["market_cap"]) > 0 and first["sector"]
    assert Decimal(first["quote"]["bid"]) == Decimal("189.10") and first["quote"]["stale"] is False
    assert len(body["results"]) == 5
    assert all(r["quote"] is None for r in body["results"][1:])  # no quote yet: null, not an error


async def test_stale_quotes_are_flagged(client: httpx.AsyncClient, redis_client: aioredis.Redis) -> None:
    old = now_us() - 60_000_000
    await QuoteWriter(redis_client).write([Quote("F", last=Decimal("12.5"), exchange_ts_us=old, ingest_ts_us=old)])
    first = (await client.get("/v1/search", params={"q": "F"})).json()["results"][0]
    assert first["symbol"] == "F" and first["quote"]["stale"] is True and first["quote"]["age_seconds"] >= 59


async def test_hot_query_is_cached_but_quotes_stay_live(
    client: httpx.AsyncClient, redis_client: aioredis.Redis, service: SearchService
) -> None:
    await client.get("/v1/search", params={"q": "Micro", "limit": 3})
    keys = [k async for k in redis_client.scan_iter(match=CACHE_PREFIX + "*")]
    assert keys == [CACHE_PREFIX + "3:micro"]
    assert 0 < await redis_client.pttl(keys[0]) <= 30_000
    # A cached answer is served even if the index changed meanwhile, with the quote read now.
    await redis_client.set(keys[0], '[{"symbol":"ZZZ","name":"Cached Co","exchange":"NYSE","sector":"X",'
                                    '"market_cap":"1"}]')
    service.recent.clear()  # another API process would not have it in its local front
    await QuoteWriter(redis_client).write([Quote("ZZZ", last=Decimal("1.23"), ingest_ts_us=now_us())])
    body = (await client.get("/v1/search", params={"q": "  MICRO ", "limit": 3})).json()
    assert [r["symbol"] for r in body["results"]] == ["ZZZ"]
    assert body["results"][0]["quote"]["last"] == "1.23"
    assert await service.clear_cache() == 1


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "empty"),
        ({"q": ""}, "empty"),
        ({"q": "   "}, "empty"),
        ({"q": "x" * 65}, "too_long"),
        ({"q": "<script>alert(1)</script>"}, "garbage"),
        ({"q": "\x00\x01"}, "garbage"),
        ({"q": "💥"}, "garbage"),
        ({"q": "ap", "limit": "0"}, "bad_limit"),
        ({"q": "ap", "limit": "51"}, "bad_limit"),
        ({"q": "ap", "limit": "ten"}, "bad_limit"),
        ({"q": "ap", "limit": "-1"}, "bad_limit"),
    ],
)
async def test_bad_queries_are_422_problems(client: httpx.AsyncClient, params: dict[str, str], reason: str) -> None:
    response = await client.get("/v1/search", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["reason"] == reason
    assert problem["type"].endswith("invalid-search-query") and problem["title"] and problem["detail"]


async def test_no_match_is_an_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/search", params={"q": "qqqqxqz"})
    assert response.status_code == 200 and response.json()["results"] == []


async def test_missing_embedded_index_is_built_on_first_use(redis_client: aioredis.Redis, tmp_path: Path) -> None:
    from brokerage.settings import Settings

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.state.settings = Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")
    app.state.redis = redis_client
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        response = await c.get("/v1/search", params={"q": "AAPL"})
    assert response.status_code == 200 and response.json()["results"][0]["symbol"] == "AAPL"
    assert (tmp_path / "search" / "tantivy" / "meta.json").exists()


async def test_unreachable_elasticsearch_is_a_503_problem(redis_client: aioredis.Redis, tmp_path: Path) -> None:
    from brokerage.settings import Settings

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.state.settings = Settings(data_dir=tmp_path, elasticsearch_url="http://127.0.0.1:1")
    app.state.redis = redis_client
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        response = await c.get("/v1/search", params={"q": "AP"})
    await app.state.search_service.index.close()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("search-unavailable")


async def test_hot_results_are_served_from_the_process_front_then_expire(
    tantivy_index: TantivyTickerIndex, redis_client: aioredis.Redis
) -> None:
    service = SearchService(tantivy_index, redis_client, cache_ttl_seconds=0.3)
    first = await service.search("micro", 3)
    await redis_client.flushdb()  # Redis cache gone: the local front still answers
    await QuoteWriter(redis_client).write([Quote("MSFT", last=Decimal("410"), ingest_ts_us=now_us())])
    again = await service.search("micro", 3)
    assert [h.listing for h in again] == [h.listing for h in first]
    assert again[0].quote is not None and again[0].quote.last == Decimal("410")  # quotes stay live
    assert await redis_client.get(CACHE_PREFIX + "3:micro") is None
    await asyncio.sleep(0.35)
    await service.search("micro", 3)  # expired locally: looked up again and re-cached in Redis
    assert await redis_client.get(CACHE_PREFIX + "3:micro") is not None


def test_recent_results_front_is_bounded() -> None:
    from search.service import RecentResults

    front = RecentResults(ttl_seconds=10, max_entries=3)
    for i in range(10):
        front.put(f"k{i}", [], now=0.0)
    assert front.get("k9", 1.0) == [] and front.get("k0", 1.0) is None
    assert front.get("k9", 11.0) is None  # expired
