"""Request checks, the per-session subscription book and its conflating drain (pure)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.md.entries import MdEntry
from gateway.md.subscriptions import (
    DUPLICATE_MDREQID,
    INSUFFICIENT_BANDWIDTH,
    UNKNOWN_SYMBOL,
    UNSUPPORTED_ENTRY_TYPE,
    UNSUPPORTED_MARKET_DEPTH,
    UNSUPPORTED_SUBSCRIPTION_TYPE,
    UNSUPPORTED_UPDATE_TYPE,
    Increment,
    MdReject,
    MdRequest,
    SessionMarketData,
    Snapshot,
    Subscription,
    SubscriptionBook,
    check_request,
)
from marketdata.quotes import Quote

LISTED = {"AAPL", "MSFT", "IBM", "GE"}.__contains__


def request(req_id: str = "R1", request_type: str = "1", depth: int = 1, update_type: str | None = "1",
            types: tuple[str, ...] = ("0", "1"), symbols: tuple[str, ...] = ("AAPL",)) -> MdRequest:
    return MdRequest(req_id, request_type, depth, update_type, types, symbols)


def reason(result: object) -> str | None:
    assert isinstance(result, MdReject), result
    return result.reason


def test_accepted_request_gets_its_supported_entry_types() -> None:
    assert check_request(request(types=("0", "1", "7")), LISTED, None, 10) == frozenset({"0", "1"})
    assert check_request(request(types=()), LISTED, None, 10) == frozenset({"0", "1", "2"})
    snapshot_only = request(request_type="0", depth=0, update_type=None)
    assert check_request(snapshot_only, LISTED, None, 10) == frozenset({"0", "1"})


def test_unknown_symbols_reject_the_whole_request_and_are_named() -> None:
    result = check_request(request(symbols=("AAPL", "NOPE", "ZZZZ")), LISTED, None, 10)
    assert reason(result) == UNKNOWN_SYMBOL
    assert isinstance(result, MdReject) and result.text == "unknown symbol: NOPE, ZZZZ"
    assert reason(check_request(request(symbols=()), LISTED, None, 10)) == UNKNOWN_SYMBOL


def test_unsupported_values_get_their_reason() -> None:
    assert reason(check_request(request(request_type="9"), LISTED, None, 10)) == UNSUPPORTED_SUBSCRIPTION_TYPE
    assert reason(check_request(request(depth=11), LISTED, None, 10)) == UNSUPPORTED_MARKET_DEPTH
    assert reason(check_request(request(update_type="7"), LISTED, None, 10)) == UNSUPPORTED_UPDATE_TYPE
    assert reason(check_request(request(types=("4", "7")), LISTED, None, 10)) == UNSUPPORTED_ENTRY_TYPE


def test_duplicate_id_and_symbol_cap_per_session() -> None:
    session = SessionMarketData()
    session.add(Subscription("R1", ("AAPL", "MSFT"), frozenset({"0"})))
    assert reason(check_request(request("R1"), LISTED, session, 10)) == DUPLICATE_MDREQID
    # symbols already watched do not count twice against the cap
    assert check_request(request("R2", symbols=("AAPL", "IBM")), LISTED, session, 3) == frozenset({"0", "1"})
    assert reason(check_request(request("R2", symbols=("IBM", "GE")), LISTED, session, 3)) == INSUFFICIENT_BANDWIDTH
    # a snapshot registers nothing, so it is not capped
    snapshot_only = request("R3", request_type="0", symbols=("IBM", "GE"))
    assert check_request(snapshot_only, LISTED, session, 3) == frozenset({"0", "1"})


def quote(symbol: str, bid: str, ts: int) -> str:
    return Quote(symbol, bid=Decimal(bid), bid_size=Decimal(1), ingest_ts_us=ts).to_json()


def test_book_routes_updates_to_watching_sessions_only_and_forgets_on_unsubscribe_and_logout() -> None:
    book = SubscriptionBook()
    book.subscribe("S1", Subscription("A", ("AAPL", "MSFT"), frozenset({"0"})))
    book.subscribe("S1", Subscription("B", ("AAPL",), frozenset({"0"})))
    book.subscribe("S2", Subscription("A", ("AAPL",), frozenset({"0"})))
    assert book.offer("AAPL", quote("AAPL", "1", 1)) == {"S1", "S2"}
    assert book.offer("IBM", quote("IBM", "1", 1)) is None
    assert book.unsubscribe("S1", "A")
    assert not book.unsubscribe("S1", "A")
    assert not book.unsubscribe("S9", "A")
    assert book.watchers == {"AAPL": {"S1", "S2"}}
    assert "MSFT" not in book.sessions["S1"].outbox.pending
    book.drop_session("S2")
    book.unsubscribe("S1", "B")
    assert book.watchers == {}
    assert book.sessions["S1"].by_symbol == {} and book.sessions["S1"].outbox.pending == {}


def test_drain_conflates_to_the_latest_quote_and_one_increment_per_subscription() -> None:
    session = SessionMarketData()
    session.add(Subscription("A", ("AAPL", "MSFT"), frozenset({"0"}), sent={"AAPL": None, "MSFT": None}))
    session.add(Subscription("W", ("AAPL",), frozenset({"0"}), full_refresh=True))
    for bid, ts in (("10", 1), ("11", 2), ("12", 3)):
        session.outbox.offer("AAPL", quote("AAPL", bid, ts))
    session.outbox.offer("MSFT", quote("MSFT", "20", 1))
    out = session.drain(lambda payload: Quote.from_json(payload))
    assert [type(item) for item in out] == [Snapshot, Increment]
    snapshot, increment = out
    assert isinstance(snapshot, Snapshot) and isinstance(increment, Increment)
    assert (snapshot.req_id, snapshot.symbol) == ("W", "AAPL")
    assert snapshot.entries == [MdEntry("0", Decimal(12), Decimal(1), 1)]
    assert increment.req_id == "A"
    assert [(e.symbol, e.price, e.action) for e in increment.entries] == [("AAPL", Decimal(12), "0"),
                                                                           ("MSFT", Decimal(20), "0")]
    assert session.outbox.pending == {}
    # the same quote again, and an older one, owe nothing
    session.outbox.offer("AAPL", quote("AAPL", "12", 3))
    session.outbox.offer("MSFT", quote("MSFT", "19", 0))
    assert session.drain(lambda payload: Quote.from_json(payload)) == []


def test_unparseable_updates_are_skipped() -> None:
    session = SessionMarketData()
    session.add(Subscription("A", ("AAPL",), frozenset({"0"})))
    session.outbox.offer("AAPL", "not json")
    assert session.drain(lambda payload: None) == []


@settings(max_examples=100)
@given(st.lists(st.tuples(st.sampled_from(["S1", "S2", "S3"]), st.sampled_from(["A", "B"]),
                          st.lists(st.sampled_from(["AAPL", "MSFT", "IBM"]), min_size=1, max_size=3, unique=True),
                          st.sampled_from(["sub", "unsub", "drop"]), st.sampled_from([1, 5])), max_size=30))
def test_watchers_always_mirror_the_sessions(ops: list[tuple[str, str, list[str], str, int]]) -> None:
    book = SubscriptionBook()
    for key, req_id, symbols, op, depth in ops:
        if op == "sub" and req_id not in book.session(key).subscriptions:
            book.subscribe(key, Subscription(req_id, tuple(symbols), frozenset({"0"}), depth=depth))
        elif op == "unsub":
            book.unsubscribe(key, req_id)
        elif op == "drop":
            book.drop_session(key)
        expected: dict[bool, dict[str, set[str]]] = {False: {}, True: {}}
        for k, state in book.sessions.items():
            for sub in state.subscriptions.values():
                for symbol in sub.symbols:
                    expected[sub.by_book].setdefault(symbol, set()).add(k)
                    assert sub.req_id in (state.book_symbols if sub.by_book else state.by_symbol)[symbol]
            for by_book, held in ((False, state.by_symbol), (True, state.book_symbols)):
                assert set(held) == {s for sub in state.subscriptions.values() if sub.by_book == by_book
                                     for s in sub.symbols}
        assert (book.watchers, book.book_watchers) == (expected[False], expected[True])
