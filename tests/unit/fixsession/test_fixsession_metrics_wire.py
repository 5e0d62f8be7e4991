"""MsgType read from a message's wire text (the message log and the counters share one ``toString``)."""

from __future__ import annotations

import quickfix as fix

from fixsession.messages import wire_msg_type


def test_the_msg_type_of_framed_and_unframed_text() -> None:
    message = fix.Message("35=D\x0111=A\x01135=9\x01", False)
    message.getHeader().setField(49, "X")
    assert wire_msg_type(str(message.toString())) == "D"
    assert wire_msg_type("8=FIX.4.4\x019=5\x0135=AE\x0110=000\x01") == "AE"
    assert wire_msg_type("35=8\x0111=A\x01") == "8"
    assert wire_msg_type("8=FIX.4.4\x019=5\x01135=9\x01") == ""
    assert wire_msg_type("") == ""


def test_message_counter_counts_like_count_kind() -> None:
    from fixsession.metrics import FIX_MESSAGES, RESEND_REQUESTS, MessageCounter

    class _App:
        name = "metrics-wire-test"

    def value(kind: str) -> float:
        return float(FIX_MESSAGES.labels("metrics-wire-test", "in", kind)._value.get())

    counter = MessageCounter(_App(), "in")
    before = {kind: value(kind) for kind in ("D", "other", "2")}
    resends = RESEND_REQUESTS.labels("metrics-wire-test", "in")._value.get()
    for kind in ("D", "D", "ZZ", "", "2"):
        counter.count(kind)
    assert value("D") - before["D"] == 2
    assert value("other") - before["other"] == 2  # unknown and missing types share "other"
    assert value("2") - before["2"] == 1
    assert RESEND_REQUESTS.labels("metrics-wire-test", "in")._value.get() - resends == 1
