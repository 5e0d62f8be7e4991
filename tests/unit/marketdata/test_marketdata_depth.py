"""Market depth: level changes rebuild the next book whichever way a consumer applies them, from the
exchange's own diff through the FIX wire and the ingestor's book to the book record in Redis."""

from __future__ import annotations

import itertools
from decimal import Decimal
from functools import cache

import quickfix as fix
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange import fix_codec
from exchange.market_data import BookView, MarketData
from exchange.simulation import Simulation, SimulationConfig
from marketdata.book import QuoteBook
from marketdata.depth import (
    DELETE,
    MAX_LEVELS,
    DepthBook,
    Level,
    LevelChange,
    apply_by_position,
    apply_by_price,
    level_changes,
    served_depth,
)
from marketdata.depth_redis import state_json
from marketdata.fix_md import Increment, Snapshot, decode
from marketdata.fix_md import MdEntry as Entry
from refdata.instruments import universe_by_symbol


def side(bids: bool, low: int, high: int) -> st.SearchStrategy[list[tuple[int, int]]]:
    """One side of a book in ticks: unique prices, best first, positive sizes."""
    prices = st.lists(st.integers(low, high), unique=True, max_size=14).map(lambda p: sorted(p, reverse=bids))
    return prices.flatmap(lambda ps: st.lists(st.integers(1, 5).map(lambda k: k * 100), min_size=len(ps),
                                              max_size=len(ps)).map(lambda sizes: list(zip(ps, sizes, strict=True))))


def decimal_levels(levels: list[tuple[int, int]]) -> list[Level]:
    return [(Decimal(p) / 100, Decimal(s)) for p, s in levels]


@settings(max_examples=150, deadline=None)
@given(before=side(True, 1, 40), after=side(True, 1, 40), depth=st.integers(1, MAX_LEVELS))
def test_changes_rebuild_the_next_side_by_price_and_by_position(before: list[tuple[int, int]],
                                                                  after: list[tuple[int, int]], depth: int) -> None:
    old, new = decimal_levels(before)[:depth], decimal_levels(after)[:depth]
    changes = level_changes(old, new)
    assert apply_by_price(old, changes, bids=True) == new
    assert apply_by_position(old, changes, depth) == new
    # nothing is sent for a level that did not move
    assert all(c.action == DELETE or (c.price, c.size) not in old for c in changes)
    assert level_changes(new, new) == []


@cache
def market() -> MarketData:
    """A MarketData whose simulation only converts ticks to prices (books are made up by the test)."""
    sim = Simulation([universe_by_symbol()["AAPL"]], SimulationConfig(seed=1, taker_probability=0.0))
    return MarketData(sim)


def view(bids: list[tuple[int, int]], asks: list[tuple[int, int]], depth: int, trades: int = 0) -> BookView:
    return BookView(tuple(bids[:depth]), tuple(asks[:depth]), trades, 15_000 if trades else None, 100 * trades,
                    100 * trades)


def exchange_book(md: MarketData, v: BookView) -> DepthBook:
    price = md.sim.venue.price
    return DepthBook("AAPL", tuple((price("AAPL", p), Decimal(q)) for p, q in v.bids),
                     tuple((price("AAPL", p), Decimal(q)) for p, q in v.asks))


def wire(message: fix.Message) -> str:
    message.getHeader().setField(52, "20261202-12:00:00.000")  # QuickFIX stamps it when sending
    return message.toString()  # type: ignore[no-any-return]


def levels_of(book: QuoteBook) -> tuple[list[Level], list[Level]]:
    state = book.states["AAPL"]
    return sorted(state.bids.items(), reverse=True), sorted(state.asks.items())


@settings(max_examples=100, deadline=None)
@given(steps=st.lists(st.tuples(side(True, 14_000, 14_030), side(False, 14_031, 14_060)), min_size=2, max_size=5),
       depth=st.integers(1, MAX_LEVELS))
def test_exchange_snapshot_plus_increments_equals_the_next_snapshot_through_the_wire(
        steps: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]], depth: int) -> None:
    md = market()
    types = frozenset({"0", "1", "2", "B"})
    views = [view(b, a, depth, trades=i) for i, (b, a) in enumerate(steps)]
    book = QuoteBook()
    first = decode(wire(fix_codec.snapshot("md-1", "AAPL", md._snapshot("AAPL", views[0], types))))
    assert isinstance(first, Snapshot)
    book.apply_snapshot(first)
    held = exchange_book(md, views[0])
    assert levels_of(book) == (list(held.bids), list(held.asks))
    for before, after in itertools.pairwise(views):
        entries = md._increment("AAPL", before, after, types)
        message = decode(wire(fix_codec.incremental("md-1", entries))) if entries else None
        if message is not None:
            assert isinstance(message, Increment)
            book.apply_increment(message)
        expected = exchange_book(md, after)
        assert levels_of(book) == (list(expected.bids), list(expected.asks))  # keyed by price (the ingestor)
        for entry_type, held_side, new_side in (("0", held.bids, expected.bids), ("1", held.asks, expected.asks)):
            changes = [LevelChange(e.action or "", e.price, e.size, e.position or 0) for e in entries
                       if e.entry_type == entry_type and e.price is not None]
            assert apply_by_position(held_side, changes, depth) == list(new_side)  # keyed by position
        held = expected


def test_book_record_round_trips_and_is_what_the_ingestor_writes() -> None:
    book = QuoteBook()
    bids = [Entry("0", "0", "AAPL", f"10.{50 - i}", "100") for i in range(12)]
    others = [Entry("0", "1", "AAPL", "10.60", "300"), Entry("0", "2", "AAPL", "10.55", "7"),
              Entry("0", "B", "AAPL", None, "900")]
    book.apply_snapshot(Snapshot("r", "AAPL", (*bids, *others), 1_000))
    text = state_json("AAPL", book.states["AAPL"], 2_000)
    record = DepthBook.from_json(text)
    assert [p for p, _ in record.bids] == [Decimal(f"10.{50 - i}") for i in range(10)]  # the quote book keeps 10
    assert record.asks == ((Decimal("10.60"), Decimal(300)),)
    assert (record.last, record.last_size, record.volume) == (Decimal("10.55"), Decimal(7), Decimal(900))
    assert record.to_json() == text and DepthBook.from_json(record.to_json()) == record
    assert record.quote() == book.drain(2_000)[0]  # a book record is a superset of the quote
    assert record.top(3).bids == record.bids[:3] and record.top(3).asks == record.asks
    assert DepthBook.from_quote(record.quote()).bids == record.bids[:1]
    assert [served_depth(n) for n in (0, 1, 5, 10, 11)] == [10, 1, 5, 10, 10]
