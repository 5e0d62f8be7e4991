"""Cracking an inbound message from its wire form reads exactly what field-by-field access through the binding
reads (ADR 020)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import quickfix as fix

from fixsession.messages import body_value, header_value
from gateway.oms import fix_codec as codec
from gateway.oms.session_days import SESSION_START_TAG, message_session_start


def _message(msg_type: str, body: list[tuple[int, str]], header: list[tuple[int, str]] = ()) -> fix.Message:  # type: ignore[assignment]
    m = fix.Message()
    h = m.getHeader()
    h.setField(fix.MsgType(msg_type))
    h.setField(34, "42")
    for tag, value in header:
        h.setField(tag, value)
    for tag, value in body:
        m.setField(tag, value)
    return m


def test_cracked_fields_equal_the_bindings_fields() -> None:
    m = _message("D", [(11, "C-1"), (55, "AAPL"), (54, "1"), (40, "2"), (38, "100"), (44, "12.5"), (1, "ACC=1")],
                 [(97, "Y"), (SESSION_START_TAG, "20261202-00:00:00")])
    fields = codec.crack(m)
    for tag in (11, 55, 54, 40, 38, 44, 1, 59, 99):
        assert fields.get(str(tag)) == body_value(m, tag)
    for tag in (34, 35, 97, 43):
        assert fields.get(str(tag)) == header_value(m, tag)
    assert codec.seq_num_of(fields) == 42
    assert codec.session_start_of(fields) == message_session_start(m) == datetime(2026, 12, 2, tzinfo=UTC)
    cmd = codec.parse_new_order(fields)
    assert cmd == codec.parse_new_order(m)
    assert (cmd.cl_ord_id, cmd.account, cmd.qty, cmd.price, cmd.poss_resend) == ("C-1", "ACC=1", Decimal(100),
                                                                                  Decimal("12.5"), True)


def test_no_session_start_and_no_seq() -> None:
    fields = codec.crack(_message("8", [(11, "O1")]))
    assert codec.session_start_of(fields) == message_session_start(_message("8", []))
    assert codec.seq_num_of({"35": "8"}) is None


def test_a_message_with_a_data_field_is_read_through_the_binding() -> None:
    # EncodedText (355) may hold SOH: such a message is not split
    m = _message("8", [(11, "O1"), (17, "X1"), (150, "F"), (39, "2"), (32, "1"), (31, "10"), (354, "9"),
                       (355, "a\x0111=FAKE")])
    fields = codec.crack(m)
    assert fields["11"] == "O1"
    assert codec.parse_venue_report(fields).venue_cl_ord_id == "O1"


def test_missing_and_malformed_fields_are_bad_fields() -> None:
    with pytest.raises(codec.BadField) as missing:
        codec.parse_new_order(codec.crack(_message("D", [(55, "AAPL"), (54, "1"), (40, "2"), (38, "1")])))
    assert missing.value.tag == 11
    with pytest.raises(codec.BadField) as bad:
        codec.parse_new_order(codec.crack(_message("D", [(11, "C"), (55, "AAPL"), (54, "1"), (40, "2"),
                                                         (38, "lots")])))
    assert bad.value.tag == 38


def test_venue_report_from_the_wire() -> None:
    m = _message("8", [(37, "V1"), (11, "O1.2"), (17, "X9"), (150, "F"), (39, "1"), (38, "10"), (44, "5"),
                       (32, "3"), (31, "4.99"), (103, "-1"), (58, "partly")])
    r = codec.parse_venue_report(codec.crack(m))
    assert r == codec.parse_venue_report(m)
    assert (r.venue_cl_ord_id, r.exec_id, r.last_qty, r.last_px, r.reject_reason, r.text) == (
        "O1.2", "X9", Decimal(3), Decimal("4.99"), -1, "partly")


def _field_by_field(msg_type: str, fields: list[tuple[int, str]]) -> fix.Message:
    m = fix.Message()
    m.getHeader().setField(fix.MsgType(msg_type))
    for tag, value in fields:
        m.setField(tag, value)
    return m


@pytest.mark.parametrize("fields", [
    [(37, "O1"), (11, "C=1"), (17, "E1"), (150, "F"), (39, "2"), (58, "déjà → vu"), (6, "309.2")],
    [(11, "C\x01bad"), (58, "text")],  # SOH in a value: set field by field (the binding would abort on the text)
    [(58, "")],
])
def test_built_message_equals_the_field_by_field_one(fields: list[tuple[int, str]]) -> None:
    built = codec.build_message("8", fields)
    assert built.toString() == _field_by_field("8", fields).toString()
    assert header_value(built, 35) == "8"
