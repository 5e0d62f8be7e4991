"""GET /v1/search: tickers by symbol or company name, with live quotes.

The search service (index + Redis) is opened on first use and kept on ``app.state.search_service``
(building the embedded index if there is none yet);
it reuses ``app.state.redis`` and ``app.state.settings`` when the app's lifespan provides them. Tests
and other wiring may override the ``search_service`` dependency.

The 200 body is built as plain dicts and serialised by orjson (ADR 029): the pydantic models below
document it in the OpenAPI schema but are not instantiated and validated per request, which cost
more server CPU than the index lookup (docs/perf/search.md).

The route is a ``SearchRoute`` (ADR 040): when it is included with no dependencies or only the API's
market data access check, and the app overrides no dependency, its handler calls that check and the
service itself instead of FastAPI's per-request dependency solving (which ran the check's synchronous
sub-dependencies in a worker thread). Same checks, same replies; anything else takes FastAPI's path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any

import fastapi.routing
import orjson
from fastapi import APIRouter, Depends, Query, Request, params
from fastapi.responses import Response
from pydantic import BaseModel, Field
from redis.asyncio import Redis

from brokerage.settings import Settings, get_settings
from gateway.api import deps
from gateway.api.problems import PROBLEM_MEDIA_TYPE, Problem, problem_response
from marketdata.quotes import Quote, now_us
from search.index import IndexUnavailable, TickerIndex, open_ticker_index
from search.query import MAX_QUERY_CHARS, InvalidQuery
from search.service import MAX_LIMIT, SearchHit, SearchService, parse_limit
from search.universe import universe_listings


class QuoteOut(BaseModel):
    bid: Decimal | None
    ask: Decimal | None
    bid_size: Decimal | None
    ask_size: Decimal | None
    last: Decimal | None
    last_size: Decimal | None
    volume: Decimal | None
    prev_close: Decimal | None
    exchange_ts_us: int = Field(description="Exchange timestamp, microseconds since the epoch (UTC).")
    ingest_ts_us: int = Field(description="When the ingestor wrote it, microseconds since the epoch (UTC).")
    age_seconds: float
    stale: bool = Field(description="Older than BROKERAGE_QUOTE_STALE_SECONDS.")


class SearchResultOut(BaseModel):
    symbol: str
    name: str
    exchange: str
    sector: str
    market_cap: Decimal
    quote: QuoteOut | None = Field(description="Live quote; null when the symbol has none yet.")


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResultOut]


def _settings(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


async def search_service(request: Request) -> SearchService:
    state = request.app.state
    service: SearchService | None = getattr(state, "search_service", None)
    if service is not None:
        return service
    lock: asyncio.Lock | None = getattr(state, "search_open_lock", None)
    if lock is None:  # per app (and so per event loop); no await between the check and the set
        lock = state.search_open_lock = asyncio.Lock()
    async with lock:
        service = getattr(state, "search_service", None)
        if service is None:
            settings = _settings(request)
            redis = getattr(state, "redis", None) or Redis.from_url(settings.effective_redis_url)
            try:
                index = await _open_index(settings)
            except IndexUnavailable as exc:
                raise Problem(503, "search-unavailable", "Search index unavailable", str(exc)) from exc
            service = SearchService(index, redis, settings.search_cache_ttl_seconds)
            state.search_service = service
    return service


async def _open_index(settings: Settings) -> TickerIndex:
    """The configured index. A missing embedded index is built from the reference data on the spot
    (a second for the real universe), so a fresh install answers without a manual reindex; a missing
    Elasticsearch index stays an error (building it is an operator's `brokerage search reindex`)."""
    try:
        return open_ticker_index(settings)
    except IndexUnavailable:
        if settings.elasticsearch_url:
            raise

    def build() -> TickerIndex:
        try:
            index = open_ticker_index(settings, create=True)
            asyncio.run(index.replace_all(universe_listings()))
            return index
        except (OSError, ValueError) as exc:  # e.g. another process holds the writer lock: it builds it
            raise IndexUnavailable(f"the search index is being built, retry shortly ({exc})") from exc

    return await asyncio.to_thread(build)


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)  # as pydantic writes a Decimal: a JSON string


def quote_body(quote: Quote, stale_after: float, at_us: int) -> dict[str, Any]:
    """A QuoteOut as JSON-ready values."""
    return {
        "bid": _decimal(quote.bid), "ask": _decimal(quote.ask), "bid_size": _decimal(quote.bid_size),
        "ask_size": _decimal(quote.ask_size), "last": _decimal(quote.last), "last_size": _decimal(quote.last_size),
        "volume": _decimal(quote.volume), "prev_close": _decimal(quote.prev_close),
        "exchange_ts_us": quote.exchange_ts_us, "ingest_ts_us": quote.ingest_ts_us,
        "age_seconds": round(quote.age_seconds(at_us), 6), "stale": quote.is_stale(stale_after, at_us),
    }


_QUOTE_DECIMALS = ("bid", "ask", "bid_size", "ask_size", "last", "last_size", "volume", "prev_close")
# A stored decimal as str(Decimal(stored)) writes it: prices and sizes repeat across symbols and requests.
_canonical_decimal = lru_cache(maxsize=16384, typed=True)(lambda value: str(Decimal(value)))


def stored_quote_body(raw: bytes | str, stale_after: float, at_us: int) -> dict[str, Any]:
    """``quote_body(Quote.from_json(raw), ...)`` without building the Quote (ADR 044): the stored
    fields relayed, each decimal as its Decimal writes it, the times as ``from_mapping`` reads them.
    Anything else (text orjson does not read but json does, not an object with a symbol, a decimal
    stored as a JSON number, a time as a fraction) takes ``Quote.from_json`` itself, which answers or
    fails as before."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or "symbol" not in data:
        return quote_body(Quote.from_json(raw), stale_after, at_us)
    body: dict[str, Any] = {}
    for name in _QUOTE_DECIMALS:
        value = data.get(name)
        if value is None or value == "" or value == "None":
            body[name] = None
        elif type(value) is str:
            body[name] = _canonical_decimal(value)
        else:  # marketdata writes strings; a JSON number orjson may read differently (a big integer as a float)
            return quote_body(Quote.from_json(raw), stale_after, at_us)
    exchange, ingest = data.get("exchange_ts_us") or 0, data.get("ingest_ts_us") or 0
    if type(exchange) is float or type(ingest) is float:  # a big integer orjson read as a float
        return quote_body(Quote.from_json(raw), stale_after, at_us)
    ingest_ts_us = int(ingest)
    age = (at_us - ingest_ts_us) / 1_000_000  # Quote.age_seconds, Quote.is_stale
    body["exchange_ts_us"], body["ingest_ts_us"] = int(exchange), ingest_ts_us
    body["age_seconds"], body["stale"] = round(age, 6), ingest_ts_us == 0 or age > stale_after
    return body


def search_body(query: str, hits: list[SearchHit], stale_after: float, at_us: int) -> bytes:
    """A SearchResponse serialised: the same JSON the pydantic models would produce."""
    results = []
    for hit in hits:
        lst, raw = hit.listing, hit.quote_json
        results.append({
            "symbol": lst.symbol, "name": lst.name, "exchange": lst.exchange, "sector": lst.sector,
            "market_cap": str(lst.market_cap),
            "quote": stored_quote_body(raw, stale_after, at_us) if raw is not None else None,
        })
    return orjson.dumps({"query": query, "results": results})


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


async def _market_data_access(request: Request) -> None:
    """``deps.require_market_data_access`` with its sub-dependencies resolved as FastAPI resolves them
    (in the order of its parameters)."""
    settings, pool = deps._settings(request), deps._pool(request)
    await deps.require_market_data_access(settings, pool, await deps._bearer(request))


# The dependencies the lean handler knows how to run itself, by their callable.
_LEAN_DEPENDENCIES: dict[Any, Callable[[Request], Coroutine[Any, Any, None]]] = {
    deps.require_market_data_access: _market_data_access,
}


def _effective_dependencies(route: fastapi.routing.APIRoute) -> Sequence[params.Depends] | None:
    """The dependencies the handler being built must run: the route's own, or, while FastAPI builds the
    handler of an included copy, those of that inclusion (router dependencies first). None when this
    FastAPI does not say (its private hook changed): then the lean handler is not used."""
    context_var = getattr(fastapi.routing, "_effective_route_context_var", None)
    if context_var is None:
        return None
    context = context_var.get()
    if context is not None and getattr(context, "original_route", None) is route:
        return getattr(context, "dependencies", None)
    return route.dependencies


class SearchRoute(fastapi.routing.APIRoute):
    """``GET /v1/search`` without FastAPI's per-request machinery when that changes nothing (ADR 040).

    FastAPI's own handler is still built and answers whenever the app overrides any dependency (tests
    and wiring may override ``search_service``), or when the route is included with a dependency this
    class does not know; ``lean = False`` forces it (the equivalence tests compare the two)."""

    lean = True

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        dependencies = _effective_dependencies(self)
        if dependencies is None or any(
            d.dependency not in _LEAN_DEPENDENCIES or getattr(d, "scopes", None) for d in dependencies
        ):
            return standard
        checks = [_LEAN_DEPENDENCIES[d.dependency] for d in dependencies]

        async def lean(request: Request) -> Response:
            if not self.lean or request.app.dependency_overrides:
                return await standard(request)
            for check in checks:
                await check(request)
            params_ = request.query_params  # the last value of a repeated parameter, as FastAPI takes it
            return await search_endpoint(request, await search_service(request), params_.get("q"),
                                         params_.get("limit"))

        return lean


router = APIRouter(tags=["search"], route_class=SearchRoute)


async def search_endpoint(request: Request, service: SearchService, q: str | None, limit: str | None) -> Response:
    # q and limit are validated here (not by FastAPI) so every bad input is the same 422 problem.
    try:
        hits = await service.search(q, parse_limit(limit))
    except InvalidQuery as exc:
        return problem_response(
            Problem(422, "invalid-search-query", "Invalid search query", exc.detail, reason=exc.reason),
            request.url.path,
        )
    except IndexUnavailable as exc:
        return problem_response(
            Problem(503, "search-unavailable", "Search index unavailable", str(exc)), request.url.path
        )
    settings = _settings(request)
    return Response(search_body(q or "", hits, settings.quote_stale_seconds, now_us()), media_type="application/json")


@router.get(
    "/v1/search",
    response_model=None,  # the body is built by search_body; SearchResponse documents it
    summary="Find tickers by symbol, symbol prefix or company name (typos tolerated), with live quotes",
    responses={
        200: {"model": SearchResponse, "description": "Matching tickers, best first, each with its live quote"},
        422: {"description": "Empty, too long or garbage query, or bad limit", "content": {PROBLEM_MEDIA_TYPE: {}}},
        503: {"description": "The search index is not available", "content": {PROBLEM_MEDIA_TYPE: {}}},
    },
)
async def search(
    request: Request,
    service: Annotated[SearchService, Depends(search_service)],
    q: Annotated[str | None, Query(description=f"Ticker or company name, 1–{MAX_QUERY_CHARS} characters")] = None,
    limit: Annotated[str | None, Query(description=f"Results wanted, 1–{MAX_LIMIT} (default 10)")] = None,
) -> Response:
    return await search_endpoint(request, service, q, limit)
