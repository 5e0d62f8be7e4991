"""The hand-built /v1/search body is exactly what the documented pydantic models would serialise."""

from __future__ import annotations

import json
from decimal import Decimal

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.api.routes.search import SearchResponse, quote_body, search_body, stored_quote_body
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
    return SearchHit(listing, None if quote is None else quote.to_json().encode())


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
    body = orjson.loads(search_body("f", [SearchHit(listing, quote.to_json()), SearchHit(listing, None)], 5.0,
                                    3_000_000))
    assert body["results"][0]["quote"]["bid"] == "12.10" and body["results"][0]["quote"]["ask"] is None
    assert body["results"][0]["quote"]["age_seconds"] == 2.0 and body["results"][0]["quote"]["stale"] is False
    assert body["results"][0]["market_cap"] == "48000000000" and body["results"][1]["quote"] is None


any_decimal = st.decimals(allow_nan=False, allow_infinity=False) | st.decimals(places=9, min_value=-1, max_value=1)
stored_values = (any_decimal.map(str) | st.sampled_from(["", "None", "1e3", "1E-7", "-0", "007.50", "+2", "1_0"])
                 | st.integers(-10**20, 10**20) | st.floats(allow_nan=False, allow_infinity=False) | st.none())


@given(st.dictionaries(st.sampled_from(["bid", "ask", "bid_size", "last", "volume", "prev_close", "exchange_ts_us",
                                        "ingest_ts_us", "other"]), stored_values),
       st.integers(0, 2**53), st.booleans())
@example({"bid": -(2**63) - 1}, 0, False)  # orjson reads integers beyond 64 bits as floats, json exactly
@example({"ingest_ts_us": 2**64 + 1, "exchange_ts_us": 1.5}, 0, True)
def test_a_stored_quote_is_relayed_as_its_decoded_quote_would_be(fields: dict[str, object], at_us: int,
                                                                 as_text: bool) -> None:
    """Relaying the stored fields (ADR 044) gives what decoding the Quote gives, or fails when it fails."""
    raw = json.dumps({"symbol": "AAPL", **fields}).encode()  # big integers too (orjson would refuse them)
    stored = raw.decode() if as_text else raw
    try:
        expected = quote_body(Quote.from_json(stored), 5.0, at_us)
    except (ValueError, ArithmeticError, TypeError):
        with pytest.raises((ValueError, ArithmeticError, TypeError)):
            stored_quote_body(stored, 5.0, at_us)
        return
    assert stored_quote_body(stored, 5.0, at_us) == expected


@given(st.builds(Quote, st.just("MSFT"), bid=decimals, ask=decimals, last=decimals, volume=decimals,
                 prev_close=decimals, exchange_ts_us=st.integers(0, 2**53), ingest_ts_us=st.integers(0, 2**53)),
       st.integers(0, 2**53))
def test_quotes_as_marketdata_writes_them_are_relayed_exactly(quote: Quote, at_us: int) -> None:
    assert stored_quote_body(quote.to_json().encode(), 5.0, at_us) == quote_body(quote, 5.0, at_us)


def test_what_only_json_reads_or_no_symbol_takes_the_decoder() -> None:
    nan = b'{"symbol":"X","bid":NaN}'  # json reads NaN (a float), orjson does not
    assert stored_quote_body(nan, 5.0, 0) == quote_body(Quote.from_json(nan), 5.0, 0)
    with pytest.raises(KeyError):
        stored_quote_body(b'{"bid":"1"}', 5.0, 0)
