"""The hand-built /v1/search body is exactly what the documented pydantic models would serialise."""

from __future__ import annotations

from decimal import Decimal

import orjson
from hypothesis import given
from hypothesis import strategies as st

from gateway.api.routes.search import SearchResponse, search_body
from marketdata.quotes import Quote
from search.ranking import Listing
from search.service import SearchHit

decimals = st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10**9, max_value=10**9)


@st.composite
def hits(draw: st.DrawFn) -> SearchHit:
    listing = Listing(draw(st.text(min_size=1, max_size=8)), draw(st.text(max_size=30)), "NYSE", "Tech",
                      draw(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=0, max_value=10**13)))
    quote = None
    if draw(st.booleans()):
        ts = draw(st.integers(min_value=0, max_value=2**53))
        quote = Quote(listing.symbol, bid=draw(decimals), ask=draw(decimals), last=draw(decimals),
                      bid_size=draw(decimals), volume=draw(decimals), exchange_ts_us=ts, ingest_ts_us=ts)
    return SearchHit(listing, quote)


@given(st.text(max_size=40), st.lists(hits(), max_size=5), st.integers(min_value=0, max_value=2**53))
def test_body_equals_the_pydantic_serialisation(query: str, found: list[SearchHit], at_us: int) -> None:
    body = search_body(query, found, 5.0, at_us)
    model = SearchResponse.model_validate_json(body)  # it fits the documented schema
    assert orjson.loads(model.model_dump_json()) == orjson.loads(body)
    assert [r.symbol for r in model.results] == [h.listing.symbol for h in found]


def test_decimals_are_strings_and_a_missing_quote_is_null() -> None:
    listing = Listing("F", "Ford Motor Co", "NYSE", "Autos", Decimal("48000000000"))
    quote = Quote("F", bid=Decimal("12.10"), ask=None, last=Decimal("12.1"), exchange_ts_us=1_000_000,
                  ingest_ts_us=1_000_000)
    body = orjson.loads(search_body("f", [SearchHit(listing, quote), SearchHit(listing, None)], 5.0, 3_000_000))
    assert body["results"][0]["quote"]["bid"] == "12.10" and body["results"][0]["quote"]["ask"] is None
    assert body["results"][0]["quote"]["age_seconds"] == 2.0 and body["results"][0]["quote"]["stale"] is False
    assert body["results"][0]["market_cap"] == "48000000000" and body["results"][1]["quote"] is None
