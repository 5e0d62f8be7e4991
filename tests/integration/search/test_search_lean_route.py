"""GET /v1/search's lean handler (ADR 040) answers byte for byte as FastAPI's own handler, in the API as
``create_app`` builds it (token check, problem handlers, metrics middleware), and is the one used."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import fastapi.routing
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from brokerage.settings import Settings
from gateway.api.app import create_app
from gateway.api.routes import search as search_route
from ledger.api_tokens import issue_api_token, revoke_api_token
from marketdata.quotes import Quote
from marketdata.redis_quotes import QuoteWriter

if TYPE_CHECKING:
    from tests.conftest import TestServers

AT_US = 1_780_000_000_000_000  # "now" for both handlers, so quote ages are equal
CURATED = ["AAPL", "aapl", "AP", "appel", "micro", "motors", "brk.b", "BRK B", "general motors", "goo", "F",
           "tesla", "nvda", "jpm", "berkshire", "at&t", "  msft  ", "", " ", "x" * 65, "!!!", "%", "é€", "\x00",
           "Ünïcode", "q", "zzzzzz", "ba", "ban", "bank of", "1", "2026"]
LIMITS = [None, "", "1", "3", "10", "50", "51", "0", "-1", "abc", "1e3", "٣", " 5"]


def _route() -> search_route.SearchRoute:
    return next(r for r in search_route.router.routes if isinstance(r, search_route.SearchRoute))


@pytest.fixture
async def api(migrated_db_url: str, test_servers: TestServers, redis_client: aioredis.Redis,
              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    monkeypatch.setattr(search_route, "now_us", lambda: AT_US)
    await QuoteWriter(redis_client).write([
        Quote(s, bid=Decimal("10.10"), ask=Decimal("10.12"), last=Decimal("10.1"), volume=Decimal("1500"),
              exchange_ts_us=AT_US - 9_000_000 * i, ingest_ts_us=AT_US - 9_000_000 * i)
        for i, s in enumerate(["AAPL", "MSFT", "F", "GM", "BRK-B", "T"])
    ])
    settings = Settings(database_url=migrated_db_url, redis_url=test_servers.redis_url, data_dir=tmp_path)
    app = create_app(settings)
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http):
        yield app, http


class CountingSolver:
    """Counts FastAPI's dependency solving, which only the standard handler does."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = fastapi.routing.solve_dependencies  # type: ignore[attr-defined]

        async def solve(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await real(*args, **kwargs)

        monkeypatch.setattr(fastapi.routing, "solve_dependencies", solve)


async def _both(http: httpx.AsyncClient, solver: CountingSolver, params: list[tuple[str, str]],
                headers: dict[str, str], lean_first: bool) -> tuple[httpx.Response, httpx.Response]:
    route = _route()
    replies: dict[bool, httpx.Response] = {}
    for lean in ((True, False) if lean_first else (False, True)):
        route.lean = lean
        before = solver.calls
        replies[lean] = await http.get("/v1/search", params=tuple(params), headers=headers)
        assert (solver.calls > before) is not lean, "the lean handler solved dependencies, or FastAPI's did not"
    route.lean = True
    return replies[True], replies[False]


def _same(lean: httpx.Response, standard: httpx.Response, what: object) -> None:
    assert lean.status_code == standard.status_code, what
    assert lean.headers.multi_items() == standard.headers.multi_items(), what
    assert lean.content == standard.content, what


async def test_lean_replies_equal_fastapis_for_generated_queries(
    api: tuple[FastAPI, httpx.AsyncClient], db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, http = api
    solver = CountingSolver(monkeypatch)
    token = (await issue_api_token(db_pool, "compliance")).token
    revoked_grant = await issue_api_token(db_pool, "operator")
    await revoke_api_token(db_pool, revoked_grant.token_id)
    revoked = revoked_grant.token
    auths: list[dict[str, str]] = [
        {"Authorization": f"Bearer {token}"}, {"Authorization": f"bearer {token}"}, {},
        {"Authorization": "Bearer brk_guessed"}, {"Authorization": f"Basic {token}"}, {"Authorization": "Bearer "},
        {"Authorization": f"Bearer {revoked}"}, {"Authorization": "Bearer " + "x" * 300},
    ]
    rng = random.Random(40)
    alphabet = "abcdefgmnoprstuxyzABMSFT.&- 0é%"
    statuses: set[int] = set()
    for i in range(240):
        q = rng.choice(CURATED) if i % 2 else "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        params: list[tuple[str, str]] = [("q", q)] if rng.random() > 0.05 else []
        limit = rng.choice(LIMITS)
        if limit is not None:
            params.append(("limit", limit))
        if rng.random() < 0.05:
            params.append(("q", "AAPL"))  # a repeated parameter: the last one counts
        headers = {"X-Request-ID": f"req-{i}", **(auths[0] if i % 3 else rng.choice(auths))}
        lean, standard = await _both(http, solver, params, headers, lean_first=bool(i % 2))
        _same(lean, standard, (params, headers))
        statuses.add(lean.status_code)
    assert statuses == {200, 401, 422}


async def test_overrides_and_unknown_dependencies_take_fastapis_path(
    api: tuple[FastAPI, httpx.AsyncClient], db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, http = api
    solver = CountingSolver(monkeypatch)
    headers = {"Authorization": f"Bearer {(await issue_api_token(db_pool, 'operator')).token}"}
    assert (await http.get("/v1/search", params={"q": "AAPL"}, headers=headers)).status_code == 200
    assert solver.calls == 0  # the lean handler

    real = app.state.search_service
    app.dependency_overrides[search_route.search_service] = lambda: real
    assert (await http.get("/v1/search", params={"q": "AAPL"}, headers=headers)).status_code == 200
    assert solver.calls == 1  # an override is FastAPI's business
    app.dependency_overrides.clear()

    async def extra() -> None:
        pass

    odd = FastAPI()
    odd.state.search_service = real
    odd.include_router(search_route.router, dependencies=[fastapi.Depends(extra)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=odd), base_url="http://odd") as other:
        assert (await other.get("/v1/search", params={"q": "AAPL"})).status_code == 200
    assert solver.calls == 2  # a dependency the lean handler does not know
