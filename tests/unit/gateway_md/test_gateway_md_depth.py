"""Depth subscriptions of the gateway's FIX clients (pure, then through the fan-out without Redis): a
depth-N snapshot plus the 35=X increments the gateway sends equals its next depth-N snapshot, however
the book moved, whether the client keys levels by price or by MDEntryPositionNo."""

from __future__ import annotations

from decimal import Decimal

import quickfix as fix
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.md.entries import book_increment_entries, book_snapshot_entries
from gateway.md.fanout import ClientMarketData
from gateway.md.subscriptions import (
    UNSUPPORTED_MARKET_DEPTH,
    MdCaps,
    MdReject,
    MdRequest,
    SessionMarketData,
    Subscription,
    check_request,
)
from marketdata.depth import MAX_LEVELS, DepthBook, Level, LevelChange, apply_by_position, apply_by_price
from marketdata.quotes import encode_batch

TYPES = frozenset({"0", "1", "2", "B"})


def levels(bids: bool) -> st.SearchStrategy[tuple[Level, ...]]:
    low, high = (9_000, 9_030) if bids else (9_031, 9_060)
    rows = st.lists(st.tuples(st.integers(low, high), st.integers(1, 9)), unique_by=lambda r: r[0], max_size=12)
    return rows.map(lambda rs: tuple((Decimal(p) / 100, Decimal(k * 100)) for p, k in sorted(rs, reverse=bids)))


books = st.builds(lambda b, a, n, ts: DepthBook("AAPL", b, a, Decimal("90.3"), Decimal(n), Decimal(100 * n),
                                                None, ts, ts),
                  levels(True), levels(False), st.integers(1, 3), st.integers(1, 10**6))


def side_changes(entries: list, entry_type: str) -> list[LevelChange]:  # type: ignore[type-arg]
    return [LevelChange(e.action, e.price, e.size, e.position) for e in entries if e.entry_type == entry_type]


def side_of(entries: list, entry_type: str) -> list[Level]:  # type: ignore[type-arg]
    return [(e.price, e.size) for e in entries if e.entry_type == entry_type]


@settings(max_examples=150, deadline=None)
@given(sequence=st.lists(books, min_size=2, max_size=5), depth=st.integers(2, MAX_LEVELS))
def test_snapshot_plus_increments_equals_the_next_snapshot(sequence: list[DepthBook], depth: int) -> None:
    held = {"0": side_of(book_snapshot_entries(sequence[0].top(depth), TYPES), "0"),
            "1": side_of(book_snapshot_entries(sequence[0].top(depth), TYPES), "1")}
    by_position = dict(held)
    before = sequence[0].top(depth)
    for book in sequence[1:]:
        after = book.top(depth)
        entries = book_increment_entries("AAPL", before, after, TYPES)
        expected = book_snapshot_entries(after, TYPES)
        for entry_type in ("0", "1"):
            changes = side_changes(entries, entry_type)
            held[entry_type] = apply_by_price(held[entry_type], changes, bids=entry_type == "0")
            by_position[entry_type] = apply_by_position(by_position[entry_type], changes, depth)
            assert held[entry_type] == by_position[entry_type] == side_of(expected, entry_type)
            positions = [e.position for e in expected if e.entry_type == entry_type]
            assert positions == list(range(1, len(positions) + 1)) and len(positions) <= depth
        before = after


def test_depth_requests_are_checked_against_the_levels_kept() -> None:
    def request(depth: int) -> MdRequest:
        return MdRequest("R", "1", depth, "1", ("0", "1"), ("AAPL",))

    listed = {"AAPL"}.__contains__
    for depth in (0, 1, 2, 5, 10):
        assert not isinstance(check_request(request(depth), listed, None, 10), MdReject)
    refused = check_request(request(11), listed, None, 10)
    assert isinstance(refused, MdReject) and refused.reason == UNSUPPORTED_MARKET_DEPTH
    assert "0 (full book, 10 levels)" in refused.text
    top_only = MdCaps(max_depth=1)  # the ingestor keeps no depth
    assert isinstance(check_request(request(5), listed, None, 10, top_only), MdReject)
    assert [MdCaps().depth_of(n) for n in (0, 1, 5)] == [10, 1, 5] and top_only.depth_of(0) == 1
    # quotes and books count together against the session's symbol cap
    session = SessionMarketData()
    session.add(Subscription("Q", ("AAPL",), frozenset({"0"})))
    session.add(Subscription("D", ("MSFT",), frozenset({"0"}), depth=5))
    capped = check_request(MdRequest("R", "1", 0, "1", ("0",), ("IBM",)), lambda _: True, session, 2, MdCaps(2))
    assert isinstance(capped, MdReject) and capped.reason == "2"


class Wire:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, _sid: fix.SessionID, message: fix.Message) -> bool:
        self.sent.append(message.toString().replace("\x01", "|"))
        return True


def book(ts: int, *bids: tuple[str, int]) -> DepthBook:
    return DepthBook("AAPL", tuple((Decimal(p), Decimal(s)) for p, s in bids), ((Decimal("10.10"), Decimal(5)),),
                     exchange_ts_us=ts, ingest_ts_us=ts)


async def test_fanout_sends_depth_increments_with_positions_and_quotes_stay_top_of_book() -> None:
    wire = Wire()
    md = ClientMarketData(None, {"AAPL"}.__contains__, wire.send, is_logged_on=lambda _sid: True)  # type: ignore[arg-type]
    key = "FIX.4.4:BROKER->CLIENT1"
    md.session_ids[key] = fix.SessionID("FIX.4.4", "BROKER", "CLIENT1")
    first = book(1, ("10.05", 100), ("10.04", 200), ("10.03", 300))
    md.book.subscribe(key, Subscription("D3", ("AAPL",), frozenset({"0", "1"}), depth=3, books={"AAPL": first}))
    md.book.subscribe(key, Subscription("TOP", ("AAPL",), frozenset({"0", "1"}), sent={"AAPL": first.quote()}))
    # a better bid enters: 10.03 leaves the top 3 (Delete at 290=3), 10.06 is New at 290=1
    md.dispatch_books(encode_batch([("AAPL", book(2, ("10.06", 50), ("10.05", 100), ("10.04", 200),
                                                  ("10.03", 300)).to_json())]))
    md.dispatch(encode_batch([("AAPL", book(2, ("10.06", 50)).quote().to_json())]))
    assert md.flush() == 2
    depth_x, top_x = wire.sent
    assert "|262=D3|268=2|279=2|269=0|55=AAPL|270=10.03|290=3|279=0|269=0|55=AAPL|270=10.06|271=50|290=1|" in depth_x
    assert "|262=TOP|268=1|279=1|269=0|55=AAPL|270=10.06|271=50|290=1|" in top_x
    # an older book read late from pub/sub is not sent
    md.dispatch_books(encode_batch([("AAPL", first.to_json())]))
    assert md.flush() == 0
