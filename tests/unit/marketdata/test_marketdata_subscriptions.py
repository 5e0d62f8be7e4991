"""Client messages, the subscription map and the conflating outbox (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.subscriptions import (
    ClientMessageError,
    ClientRequest,
    ConflatingOutbox,
    SubscriptionMap,
    parse_client_message,
    split_known,
)


def test_parse_subscribe_normalises_and_dedupes() -> None:
    assert parse_client_message('{"action":"subscribe","symbols":["aapl"," MSFT ","AAPL"]}', 10) == ClientRequest(
        "subscribe", ("AAPL", "MSFT"))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "bad_request"),
        ("[1,2]", "bad_request"),
        ('{"action":"buy","symbols":["AAPL"]}', "bad_request"),
        ('{"action":"subscribe"}', "bad_request"),
        ('{"action":"subscribe","symbols":[]}', "bad_request"),
        ('{"action":"subscribe","symbols":[1]}', "bad_request"),
        ('{"action":"subscribe","symbols":["  "]}', "bad_request"),
        ('{"action":"subscribe","symbols":["A","B","C","D"]}', "too_many_symbols"),
        ('{"action":"subscribe","symbols":["' + "A" * 20_000 + '"]}', "bad_request"),
    ],
)
def test_bad_client_messages(text: str, code: str) -> None:
    with pytest.raises(ClientMessageError) as info:
        parse_client_message(text, 3)
    assert info.value.code == code


def test_subscription_cap_and_unsubscribe() -> None:
    subs = SubscriptionMap()
    assert subs.subscribe(1, ["A", "B", "C"], max_symbols=2) == (["A", "B"], ["C"])
    assert subs.subscribe(2, ["B"], max_symbols=2) == (["B"], [])
    assert subs.unsubscribe(1, ["B", "Z"]) == ["B"]
    assert subs.by_symbol == {"A": {1}, "B": {2}}
    subs.drop(2)
    assert subs.by_symbol == {"A": {1}} and 2 not in subs.by_client


def test_split_known() -> None:
    assert split_known(["A", "X", "B"], {"A", "B"}.__contains__) == (["A", "B"], ["X"])


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(["sub", "unsub", "drop"]), st.integers(1, 4),
                          st.lists(st.sampled_from("ABCDEF"), max_size=4)), max_size=40))
def test_map_stays_consistent_both_ways(ops: list[tuple[str, int, list[str]]]) -> None:
    subs = SubscriptionMap()
    for op, client, symbols in ops:
        if op == "sub":
            subs.subscribe(client, symbols, max_symbols=3)
        elif op == "unsub":
            subs.unsubscribe(client, symbols)
        else:
            subs.drop(client)
    pairs_by_symbol = {(c, s) for s, cs in subs.by_symbol.items() for c in cs}
    pairs_by_client = {(c, s) for c, ss in subs.by_client.items() for s in ss}
    assert pairs_by_symbol == pairs_by_client
    assert all(holders for holders in subs.by_symbol.values())
    assert all(len(ss) <= 3 for ss in subs.by_client.values())


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from("ABCDE"), st.integers()), max_size=200))
def test_outbox_holds_the_latest_per_symbol_and_never_more(updates: list[tuple[str, int]]) -> None:
    box = ConflatingOutbox()
    for symbol, n in updates:
        box.offer(symbol, str(n))
        assert len(box.pending) <= 5
    latest = {}
    for symbol, n in updates:
        latest[symbol] = str(n)
    assert dict(box.take()) == latest
    assert box.conflated == len(updates) - len(latest)
    assert box.take() == []


def test_subscribe_may_ask_for_depth() -> None:
    parsed = parse_client_message('{"action":"subscribe","symbols":["aapl"],"depth":5}', 10)
    assert parsed == ClientRequest("subscribe", ("AAPL",), 5)
    assert parse_client_message('{"action":"subscribe","symbols":["F"],"depth":0}', 10).depth == 0
    assert parse_client_message('{"action":"subscribe","symbols":["F"]}', 10).depth is None
    text = '{"action":"%s","symbols":["F"],"depth":%s}'
    for bad in ("11", "-1", '"5"', "2.0", "true"):
        with pytest.raises(ClientMessageError):
            parse_client_message(text % ("subscribe", bad), 10)
    with pytest.raises(ClientMessageError):
        parse_client_message(text % ("unsubscribe", "5"), 10)
