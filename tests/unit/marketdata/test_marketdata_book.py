"""Top-of-book state from snapshots and increments, and conflation of changes."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.book import QuoteBook
from marketdata.fix_md import CHANGE, DELETE, NEW, Increment, MdEntry, Snapshot
from marketdata.quotes import Quote, channel_for, decode_batch, encode_batch


def inc(*entries: MdEntry, ts: int = 2_000) -> Increment:
    return Increment("md1", entries, ts)


def snapshot_aapl() -> Snapshot:
    return Snapshot("md1", "AAPL", (
        MdEntry(NEW, "0", "AAPL", "10.50", "100"),
        MdEntry(NEW, "0", "AAPL", "10.49", "700"),
        MdEntry(NEW, "1", "AAPL", "10.60", "300"),
        MdEntry(NEW, "2", "AAPL", "10.55", "10"),
        MdEntry(NEW, "5", "AAPL", "11.00", None),
        MdEntry(NEW, "B", "AAPL", None, "6500"),
    ), 1_000)


def test_snapshot_gives_the_full_quote() -> None:
    book = QuoteBook()
    book.apply_snapshot(snapshot_aapl())
    [quote] = book.drain(ingest_ts_us=1_500)
    assert quote == Quote("AAPL", bid=Decimal("10.50"), ask=Decimal("10.60"), bid_size=Decimal(100),
                          ask_size=Decimal(300), last=Decimal("10.55"), last_size=Decimal(10),
                          volume=Decimal(6500), prev_close=Decimal("11.00"), exchange_ts_us=1_000,
                          ingest_ts_us=1_500)


def test_increments_move_the_touch() -> None:
    book = QuoteBook()
    book.apply_snapshot(snapshot_aapl())
    book.drain(0)
    book.apply_increment(inc(
        MdEntry(DELETE, "0", "AAPL", "10.50", None),  # best bid leaves
        MdEntry(CHANGE, "0", "AAPL", "10.49", "650"),
        MdEntry(NEW, "1", "AAPL", "10.58", "50"),  # better offer
        MdEntry(NEW, "2", "AAPL", "10.58", "50"),
        MdEntry(CHANGE, "B", "AAPL", None, "6550"),
    ))
    [q] = book.drain(3_000)
    assert (q.bid, q.bid_size, q.ask, q.ask_size) == (Decimal("10.49"), Decimal(650), Decimal("10.58"), Decimal(50))
    assert (q.last, q.last_size, q.volume, q.exchange_ts_us) == (Decimal("10.58"), Decimal(50), Decimal(6550), 2_000)


def test_many_updates_to_a_symbol_become_one_write() -> None:
    book = QuoteBook()
    for i in range(50):
        book.apply_increment(inc(MdEntry(NEW, "2", "MSFT", f"100.{i:02d}", "1"), ts=1_000 + i))
        book.apply_increment(inc(MdEntry(NEW, "2", "F", "12.00", "1"), ts=1_000 + i))
    assert book.pending == 2
    quotes = book.drain(5_000)
    assert [q.symbol for q in quotes] == ["MSFT", "F"]
    assert quotes[0].last == Decimal("100.49") and quotes[0].exchange_ts_us == 1_049
    assert book.drain(6_000) == []


def test_drain_limit_keeps_the_rest_for_later() -> None:
    book = QuoteBook()
    book.apply_increment(inc(*(MdEntry(NEW, "2", f"S{i}", "1", "1") for i in range(10))))
    assert [q.symbol for q in book.drain(0, limit=4)] == ["S0", "S1", "S2", "S3"]
    assert book.pending == 6
    assert len(book.drain(0)) == 6


def test_bad_numbers_are_counted_and_ignored() -> None:
    book = QuoteBook()
    book.apply_increment(inc(
        MdEntry(NEW, "0", "AAPL", "abc", "100"),
        MdEntry(NEW, "0", "AAPL", "10", "NaN"),
        MdEntry(NEW, "1", "AAPL", "-1", "5"),
        MdEntry(NEW, "2", "AAPL", None, "5"),
        MdEntry(NEW, "4", "AAPL", "10", None),  # opening price: not kept, not an error
    ))
    assert book.entries_rejected == 4 and book.entries_applied == 0
    assert book.pending == 0


def test_zero_size_level_is_removed() -> None:
    book = QuoteBook()
    book.apply_snapshot(snapshot_aapl())
    book.apply_increment(inc(MdEntry(CHANGE, "1", "AAPL", "10.60", "0")))
    [q] = book.drain(0)
    assert q.ask is None and q.ask_size is None


Level = tuple[str, int, int]  # side, price cents, size (0 = delete)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(["0", "1"]), st.integers(1, 30), st.integers(0, 5)), max_size=60))
def test_touch_matches_a_model_of_the_levels(actions: list[Level]) -> None:
    book = QuoteBook()
    model: dict[str, dict[int, int]] = {"0": {}, "1": {}}
    for side, cents, size in actions:
        price = f"{cents / 100:.2f}"
        if size == 0:
            book.apply_increment(inc(MdEntry(DELETE, side, "X", price, None)))
            model[side].pop(cents, None)
        else:
            book.apply_increment(inc(MdEntry(NEW, side, "X", price, str(size))))
            model[side][cents] = size
    quotes = book.drain(0)
    if not actions:
        assert quotes == []
        return
    [q] = quotes
    best_bid = max(model["0"], default=None)
    best_ask = min(model["1"], default=None)
    assert q.bid == (Decimal(best_bid) / 100 if best_bid is not None else None)
    assert q.ask == (Decimal(best_ask) / 100 if best_ask is not None else None)
    assert q.bid_size == (Decimal(model["0"][best_bid]) if best_bid is not None else None)


@settings(max_examples=200)
@given(
    st.from_regex(r"[A-Z]{1,5}(-[A-Z])?", fullmatch=True),
    st.lists(st.one_of(st.none(), st.decimals(min_value=0, max_value=10**9, places=4)), min_size=8, max_size=8),
    st.integers(0, 2**60),
)
def test_quote_json_is_plain_json_and_round_trips(symbol: str, values: list[Decimal | None], ts: int) -> None:
    quote = Quote(symbol, *values, exchange_ts_us=ts, ingest_ts_us=ts + 1)
    text = quote.to_json()
    assert json.loads(text) == quote.to_mapping()
    assert Quote.from_json(text) == quote


def test_batch_lines_round_trip_and_channels_are_stable() -> None:
    lines = [("AAPL", Quote("AAPL", last=Decimal(1)).to_json()), ("BRK-B", "{}")]
    assert decode_batch(encode_batch(lines)) == lines
    assert decode_batch("garbage\n\n") == []
    assert channel_for("AAPL") == channel_for("AAPL") and channel_for("AAPL").startswith("quotes:shard:")

