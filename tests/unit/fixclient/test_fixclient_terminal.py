"""The fix-client command language and how reports read."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fixclient import events as ev
from fixclient.codec import Frame, FrameReader, encode_message
from fixclient.messages import InboundMessage
from fixclient.terminal import (
    CancelOrder,
    CommandError,
    Help,
    MarketData,
    PlaceOrder,
    Quit,
    ReplaceOrder,
    StatusRequest,
    describe_event,
    describe_message,
    parse_command,
)


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("buy 100 AAPL", PlaceOrder("buy", Decimal(100), "AAPL", "market")),
        ("BUY 100 aapl limit 190.50", PlaceOrder("buy", Decimal(100), "AAPL", "limit", Decimal("190.50"))),
        ("sell 5 msft @ 300 ioc", PlaceOrder("sell", Decimal(5), "MSFT", "limit", Decimal(300), tif="ioc")),
        ("sell 5 MSFT stop 300", PlaceOrder("sell", Decimal(5), "MSFT", "stop", None, Decimal(300))),
        ("sell 5 MSFT stop 300 limit 299.5 gtc",
         PlaceOrder("sell", Decimal(5), "MSFT", "stop_limit", Decimal("299.5"), Decimal(300), "gtc")),
        ("short 10 TSLA @ 250 account Acc-1 id My-1",
         PlaceOrder("short", Decimal(10), "TSLA", "limit", Decimal(250), account="Acc-1", cl_ord_id="My-1")),
        ("buy 0.5 BTC market", PlaceOrder("buy", Decimal("0.5"), "BTC", "market")),
        ("cancel ABC-1", CancelOrder("ABC-1")),
        ("status ABC-1", StatusRequest("ABC-1")),
        ("replace ABC-1 qty 50", ReplaceOrder("ABC-1", Decimal(50), None)),
        ("replace ABC-1 price 191 qty 5", ReplaceOrder("ABC-1", Decimal(5), Decimal(191))),
        ("md aapl msft", MarketData(("AAPL", "MSFT"))),
        ("help", Help()),
        ("quit", Quit()),
        ("exit", Quit()),
        ("   ", None),
        ("# only a comment", None),
        ("buy 1 AAPL  # trailing comment", PlaceOrder("buy", Decimal(1), "AAPL", "market")),
    ],
)
def test_commands_parse(line: str, command: object) -> None:
    assert parse_command(line) == command


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("buy", "usage: buy QTY SYMBOL"),
        ("buy lots AAPL", "quantity must be a number"),
        ("buy -1 AAPL", "quantity must be positive"),
        ("buy NaN AAPL", "quantity must be positive"),
        ("buy 1 AAPL limit", "'limit' needs a value"),
        ("buy 1 AAPL limit x", "price must be a number"),
        ("buy 1 AAPL sideways", "unexpected 'sideways'"),
        ("cancel", "usage: cancel CLORDID"),
        ("replace X", "usage: replace"),
        ("replace X colour red", "usage: replace"),
        ("md", "usage: md"),
        ("launch rockets", "unknown command 'launch'"),
    ],
)
def test_bad_commands_say_what_would_work(line: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse_command(line)


def inbound(msg_type: str, body: list[tuple[int, object]]) -> InboundMessage:
    header: list[tuple[int, object]] = [(49, "BROKER"), (56, "CLIENT1"), (34, 3), (52, "20261121-10:00:00.000")]
    [frame] = FrameReader().feed(encode_message(msg_type, header, body))
    assert isinstance(frame, Frame)
    return InboundMessage.from_frame(frame)


def test_fill_and_reject_read_plainly() -> None:
    fill = inbound("8", [(11, "C1"), (37, "O1"), (150, "F"), (39, "1"), (55, "AAPL"), (32, "40"), (31, "190.5"),
                         (14, "40"), (151, "60"), (6, "190.5")])
    assert describe_message(fill) == ("ExecutionReport C1 Trade status=PartiallyFilled AAPL last=40@190.5 "
                                      "cum=40 leaves=60 avg=190.5 OrderID=O1")
    reject = inbound("8", [(11, "C2"), (150, "8"), (39, "8"), (103, "3"), (58, "insufficient buying power")])
    assert "Rejected" in describe_message(reject) and "OrdRejReason=3 (insufficient buying power)" in describe_message(
        reject)
    garbled = inbound("8", [(11, "C3"), (31, "abc")])
    assert "unreadable" in describe_message(garbled)
    session_reject = inbound("3", [(45, 7), (373, 1), (58, "Required tag missing")])
    assert describe_message(session_reject) == "Reject of our MsgSeqNum 7: Required tag missing (reason 1)"


def test_events_worth_showing() -> None:
    assert describe_event(ev.HeartbeatReceived(None)) == "heartbeat received"
    assert describe_event(ev.HeartbeatSent("T1")) == "heartbeat sent (answer to TestRequest T1)"
    assert describe_event(ev.GapDetected(4, 9, True)) == "sequence gap: expected 4, got 9; ResendRequest sent"
    assert describe_event(ev.LoggedOut("bye", True)) == "logged out by the peer: bye"
    assert describe_event(ev.LoggedOn(30, False)) is None


def test_business_reject_names_the_message_it_refers_to() -> None:
    reject = inbound("j", [(45, 10), (372, "D"), (379, "C9"), (380, 3), (58, "Unsupported Message Type")])
    assert describe_message(reject) == ("BusinessMessageReject of our D MsgSeqNum 10 (ref C9): "
                                        "Unsupported Message Type (reason 3)")


def test_outstanding_requests_are_answered_by_cl_ord_id_or_by_seq_num() -> None:
    from brokerage.commands.fix_client import Outstanding

    waiting = Outstanding()
    waiting.add("A", 5)
    waiting.add("B", 6)
    waiting.add("C", 7)
    waiting.answer(inbound("8", [(11, "A"), (150, "0")]))
    waiting.answer(inbound("j", [(45, 6), (372, "D"), (380, 3)]))
    waiting.answer(inbound("3", [(45, 99), (373, 1)]))  # refers to something else
    assert list(waiting.by_cl_ord_id) == ["C"] and waiting.answered.is_set()
