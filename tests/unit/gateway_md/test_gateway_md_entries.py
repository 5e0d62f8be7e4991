"""MDEntries of the FIX client feed: snapshot and increments from consecutive quotes."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.md.entries import (
    CHANGE,
    DELETE,
    NEW,
    MdEntry,
    increment_entries,
    is_newer,
    snapshot_entries,
)
from marketdata.quotes import Quote

ALL = frozenset({"0", "1", "2", "5", "B"})
BOOK = frozenset({"0", "1"})


def q(**kw: object) -> Quote:
    values = {k: (Decimal(str(v)) if k not in ("exchange_ts_us", "ingest_ts_us") else v) for k, v in kw.items()}
    return Quote("AAPL", **values)  # type: ignore[arg-type]


def test_snapshot_lists_the_requested_types_only() -> None:
    quote = q(bid=100, bid_size=5, ask=101, ask_size=7, last="100.5", last_size=3, volume=900, prev_close=99)
    assert snapshot_entries(quote, BOOK) == [MdEntry("0", Decimal(100), Decimal(5), 1),
                                             MdEntry("1", Decimal(101), Decimal(7), 1)]
    assert [e.entry_type for e in snapshot_entries(quote, ALL)] == ["0", "1", "2", "5", "B"]
    assert snapshot_entries(quote, frozenset({"B"})) == [MdEntry("B", None, Decimal(900))]


def test_snapshot_of_a_symbol_without_quote_or_side_is_empty() -> None:
    assert snapshot_entries(None, ALL) == []
    assert snapshot_entries(q(ask=101, ask_size=1), frozenset({"0"})) == []


def test_side_appears_moves_and_disappears() -> None:
    first = q(bid=100, bid_size=5)
    moved = q(bid="100.01", bid_size=5, ask=101, ask_size=2)
    assert increment_entries("AAPL", first, moved, BOOK) == [
        MdEntry("0", Decimal("100.01"), Decimal(5), 1, CHANGE, "AAPL"),
        MdEntry("1", Decimal(101), Decimal(2), 1, NEW, "AAPL")]
    gone = q(ask=101, ask_size=2)
    assert increment_entries("AAPL", moved, gone, BOOK) == [MdEntry("0", Decimal("100.01"), None, None, DELETE,
                                                                    "AAPL")]


def test_size_change_only_is_a_change_and_unwanted_types_are_silent() -> None:
    before, after = q(bid=100, bid_size=5, ask=101, ask_size=1), q(bid=100, bid_size=6, ask=101, ask_size=1)
    assert increment_entries("AAPL", before, after, BOOK) == [MdEntry("0", Decimal(100), Decimal(6), 1, CHANGE,
                                                                      "AAPL")]
    assert increment_entries("AAPL", before, after, frozenset({"1", "2"})) == []


def test_a_trade_at_the_same_price_and_size_is_seen_through_the_volume() -> None:
    before = q(last=100, last_size=10, volume=50)
    after = q(last=100, last_size=10, volume=60)
    assert increment_entries("AAPL", before, after, ALL) == [
        MdEntry("2", Decimal(100), Decimal(10), None, NEW, "AAPL"),
        MdEntry("B", None, Decimal(60), None, CHANGE, "AAPL")]
    assert increment_entries("AAPL", after, after, ALL) == []


def test_closing_price_change() -> None:
    assert increment_entries("AAPL", q(prev_close=99), q(prev_close=98), ALL) == [
        MdEntry("5", Decimal(98), None, None, CHANGE, "AAPL")]


def test_older_quotes_never_replace_newer_ones() -> None:
    assert is_newer(None, q(ingest_ts_us=1))
    assert is_newer(q(ingest_ts_us=5), q(ingest_ts_us=5))
    assert not is_newer(q(ingest_ts_us=6), q(ingest_ts_us=5))


prices = st.one_of(st.none(), st.decimals(min_value=1, max_value=1000, places=2))
sizes = st.decimals(min_value=1, max_value=10_000, places=0)


@st.composite
def quotes(draw: st.DrawFn) -> Quote:
    bid, ask = draw(prices), draw(prices)
    return Quote("AAPL", bid=bid, bid_size=draw(sizes) if bid is not None else None,
                 ask=ask, ask_size=draw(sizes) if ask is not None else None)


@settings(max_examples=150)
@given(st.lists(quotes(), min_size=1, max_size=12))
def test_applying_increments_to_the_snapshot_rebuilds_the_latest_top_of_book(sequence: list[Quote]) -> None:
    """A client keeping one level per side and applying New/Change/Delete ends with the latest quote."""
    book: dict[str, tuple[Decimal, Decimal | None]] = {
        e.entry_type: (e.price, e.size) for e in snapshot_entries(sequence[0], BOOK) if e.price is not None}
    for before, after in itertools.pairwise(sequence):
        for e in increment_entries("AAPL", before, after, BOOK):
            if e.action == DELETE:
                assert book.pop(e.entry_type)[0] == e.price
            else:
                assert (e.action == NEW) == (e.entry_type not in book)
                assert e.price is not None
                book[e.entry_type] = (e.price, e.size)
    last = sequence[-1]
    expected = {t: (px, size) for t, px, size in (("0", last.bid, last.bid_size), ("1", last.ask, last.ask_size))
                if px is not None}
    assert book == expected
