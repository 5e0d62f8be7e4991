"""``build_message``'s one-call path (ADR 030): which field lists may go to QuickFIX as one text."""

from __future__ import annotations

import pytest
import quickfix as fix

from gateway.oms import fix_codec as codec


@pytest.mark.parametrize(("fields", "plain"), [
    ([(37, "O1"), (11, "C=1"), (58, "déjà → vu")], True),
    ([], True),
    ([("11", "C1"), (55, "AAPL")], True),  # a tag given as text
    ([(11, "C\x01bad"), (58, "text")], False),  # SOH inside a value
    ([(11, "C1"), (58, "")], False),  # empty value
    ([(58, ""), (11, "C1")], False),  # empty value, not last
    ([(11, "C1"), (11, "C2")], False),  # repeated tag
    ([(11, "C1"), (34, "7")], False),  # a header tag
    ([(11, "C1"), (95, "3"), (96, "a\x01b")], False),  # length-prefixed data
    ([(0, "x")], False),
    ([(-5, "x")], False),
    ([("x1", "v")], False),  # not a tag
    ([(58, "ends in =")], False),  # conservative: only the one-call path is lost
    ([(58, "ends in ="), (11, "C1")], False),  # conservative: only the one-call path is lost
])
def test_plain_text_admits_only_plain_fields(fields: list[tuple[object, str]], plain: bool) -> None:
    text = codec._plain_text("8", fields)
    assert (text is not None) is plain
    if text is not None:
        assert text == "35=8\x01" + "".join(f"{int(str(t))}={v}\x01" for t, v in fields)


def test_plain_text_shape_cache_does_not_leak_between_values() -> None:
    # same tags, first plain, then with an empty value, then plain again
    assert codec._plain_text("8", [(11, "A"), (58, "x")]) is not None
    assert codec._plain_text("8", [(11, "A"), (58, "")]) is None
    assert codec._plain_text("8", [(11, "A"), (58, "y")]) == "35=8\x0111=A\x0158=y\x01"


@pytest.mark.parametrize("msg_type", ["", "8\x01"])
def test_plain_text_refuses_a_bad_msg_type(msg_type: str) -> None:
    assert codec._plain_text(msg_type, [(11, "A")]) is None


def test_message_built_either_way_has_the_same_wire_text() -> None:
    fields = [(37, "O1"), (11, "C1"), (150, "F"), (14, "1")]
    one_call = codec.build_message("8", fields)
    by_field = codec.build_message("8", [*fields, (58, "")])  # the empty value forces the slow path
    ref = fix.Message()
    ref.getHeader().setField(fix.MsgType("8"))
    for tag, value in [*fields, (58, "")]:
        ref.setField(tag, value)
    assert by_field.toString() == ref.toString()
    assert one_call.toString() == codec.build_message("8", [(str(t), v) for t, v in fields]).toString()
