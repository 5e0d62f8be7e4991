"""The ingestor's quote encoder writes exactly ``Quote.to_json()``'s text (what every reader decodes)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.book import QuoteBook
from marketdata.fix_md import NEW, Increment, MdEntry
from marketdata.quotes import Quote, quote_json

_decimals = st.one_of(st.none(), st.decimals(min_value=0, max_value=10**9, places=4),
                      st.sampled_from([Decimal("1E+2"), Decimal("0E-7"), Decimal("1.10"), Decimal("0.00000001")]))


@settings(max_examples=300)
@given(st.from_regex(r"[A-Z]{1,5}([-.][A-Z])?", fullmatch=True), st.lists(_decimals, min_size=8, max_size=8),
       st.integers(0, 2**60), st.integers(0, 2**60))
def test_quote_json_is_to_json(symbol: str, values: list[Decimal | None], exchange_ts: int, ingest_ts: int) -> None:
    quote = Quote(symbol, *values, exchange_ts_us=exchange_ts, ingest_ts_us=ingest_ts)
    assert quote_json(symbol, *values, exchange_ts, ingest_ts) == quote.to_json()
    assert Quote.from_json(quote_json(symbol, *values, exchange_ts, ingest_ts)) == quote


@settings(max_examples=100)
@given(st.lists(st.tuples(st.sampled_from(["0", "1", "2", "5", "B"]), st.sampled_from(["10.5", "10.25", "9", "0.01"]),
                          st.sampled_from(["100", "0", "7"])), max_size=10))
def test_drained_payloads_are_the_quotes_json(entries: list[tuple[str, str, str]]) -> None:
    book, twin = QuoteBook(), QuoteBook()
    message = Increment("md", tuple(MdEntry(NEW, kind, "AAPL", price, size) for kind, price, size in entries), 7)
    book.apply_increment(message)
    twin.apply_increment(message)
    encoded = book.drain_encoded(99)
    assert [(symbol, payload) for symbol, payload, _ in encoded] == [(q.symbol, q.to_json()) for q in twin.drain(99)]
