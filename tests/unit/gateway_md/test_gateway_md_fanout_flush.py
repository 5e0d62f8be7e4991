"""The fan-out's update path without Redis: dispatch of published batches, conflating flush,
sessions that logged out."""

from __future__ import annotations

from decimal import Decimal

import quickfix as fix

from gateway.md.fanout import ClientMarketData, parse_quote
from gateway.md.subscriptions import Subscription
from marketdata.quotes import Quote, encode_batch


def session_id(comp_id: str) -> fix.SessionID:
    return fix.SessionID("FIX.4.4", "BROKER", comp_id)


class Wire:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.logged_on = {"CLIENT1", "CLIENT2"}

    def send(self, sid: fix.SessionID, message: fix.Message) -> bool:
        self.sent.append((sid.getTargetCompID().getValue(), message.toString().replace("\x01", "|")))
        return True

    def is_logged_on(self, sid: fix.SessionID) -> bool:
        return sid.getTargetCompID().getValue() in self.logged_on


def q(symbol: str, bid: str, ts: int) -> tuple[str, str]:
    return symbol, Quote(symbol, bid=Decimal(bid), bid_size=Decimal(10), ingest_ts_us=ts).to_json()


async def service(wire: Wire) -> ClientMarketData:
    md = ClientMarketData(None, {"AAPL", "MSFT"}.__contains__, wire.send, is_logged_on=wire.is_logged_on)  # type: ignore[arg-type]
    for comp_id, symbols in (("CLIENT1", ("AAPL",)), ("CLIENT2", ("AAPL", "MSFT"))):
        key = f"FIX.4.4:BROKER->{comp_id}"
        md.session_ids[key] = session_id(comp_id)
        md.book.subscribe(key, Subscription("R", symbols, frozenset({"0"}), sent=dict.fromkeys(symbols)))
    return md


async def test_a_burst_becomes_one_increment_per_subscription_with_the_latest_quote() -> None:
    wire = Wire()
    md = await service(wire)
    md.dispatch(encode_batch([q("AAPL", "10", 1), q("IBM", "5", 1), q("AAPL", "11", 2)]))
    md.dispatch(encode_batch([q("AAPL", "12", 3), q("MSFT", "20", 3)]))
    assert md.flush() == 2
    by_client = dict(wire.sent)
    assert "|279=0|269=0|55=AAPL|270=12|271=10|290=1|" in by_client["CLIENT1"]
    assert "MSFT" not in by_client["CLIENT1"] and "IBM" not in by_client["CLIENT2"]
    assert "55=AAPL" in by_client["CLIENT2"] and "|55=MSFT|270=20|" in by_client["CLIENT2"]
    assert md.flush() == 0  # nothing new


async def test_a_session_that_logged_out_is_dropped_not_sent_to() -> None:
    wire = Wire()
    md = await service(wire)
    wire.logged_on.discard("CLIENT1")
    md.dispatch(encode_batch([q("AAPL", "10", 1)]))
    md.flush()
    assert [client for client, _ in wire.sent] == ["CLIENT2"]
    assert "FIX.4.4:BROKER->CLIENT1" not in md.book.sessions
    assert md.book.watchers["AAPL"] == {"FIX.4.4:BROKER->CLIENT2"}


async def test_a_session_awaiting_its_snapshot_keeps_its_updates() -> None:
    wire = Wire()
    md = await service(wire)
    state = md.book.sessions["FIX.4.4:BROKER->CLIENT1"]
    state.snapshots_in_flight = 1
    md.dispatch(encode_batch([q("AAPL", "10", 1)]))
    md.flush()
    assert [client for client, _ in wire.sent] == ["CLIENT2"]
    state.snapshots_in_flight = 0
    md.flush()
    assert [client for client, _ in wire.sent] == ["CLIENT2", "CLIENT1"]


def test_malformed_quote_payloads_are_skipped() -> None:
    assert parse_quote("{not json") is None
    assert parse_quote('{"symbol":"AAPL","bid":"abc"}') is None
    assert parse_quote('{"bid":"1"}') is None
