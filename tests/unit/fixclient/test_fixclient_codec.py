"""Framing by BodyLength, CheckSum validation, resynchronisation after garbage, UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixclient.codec import (
    Frame,
    FrameReader,
    GarbledFrame,
    checksum,
    encode_message,
    field,
    format_utc_timestamp,
    parse_utc_timestamp,
)


def order(seq: int, cl_ord_id: str = "A1") -> bytes:
    header = [(49, "CLIENT1"), (56, "BROKER"), (34, seq), (52, "20261121-10:00:00.000")]
    return encode_message("D", header, [(11, cl_ord_id), (55, "AAPL"), (54, "1"), (38, "100"), (40, "1")])


def frames(items: list[Frame | GarbledFrame]) -> list[Frame]:
    return [i for i in items if isinstance(i, Frame)]


def test_encoded_message_has_correct_body_length_and_checksum() -> None:
    data = order(7)
    assert data.startswith(b"8=FIX.4.4\x019=")
    head, _, rest = data.partition(b"\x0135=")
    body_length = int(head.split(b"9=")[1])
    body = b"35=" + rest[: rest.rindex(b"10=")]
    assert len(body) == body_length
    assert data.endswith(f"10={checksum(data[: data.rindex(b'10=')]):03d}\x01".encode())


def test_a_frame_is_parsed_into_fields() -> None:
    [frame] = FrameReader().feed(order(3, "XYZ"))
    assert isinstance(frame, Frame)
    assert frame.msg_type == "D"
    assert field(frame.message, 34) == "3"
    assert field(frame.message, 11) == "XYZ"
    assert field(frame.message, 999) is None
    assert frame.raw == order(3, "XYZ")


def test_bad_checksum_is_garbled_and_the_next_message_still_arrives() -> None:
    bad = bytearray(order(1))
    bad[-4:-1] = b"000" if bad[-4:-1] != b"000" else b"001"
    items = FrameReader().feed(bytes(bad) + order(2))
    assert isinstance(items[0], GarbledFrame)
    assert "CheckSum" in items[0].reason
    assert [field(f.message, 34) for f in frames(items)] == ["2"]


def test_garbage_before_a_message_is_reported_then_skipped() -> None:
    items = FrameReader().feed(b"hello\x01world" + order(1))
    assert isinstance(items[0], GarbledFrame)
    assert len(frames(items)) == 1


def test_lying_body_length_is_garbled_and_the_reader_resynchronises() -> None:
    good = order(1)
    lying = good.replace(b"\x019=", b"\x019=1", 1)  # BodyLength ten times bigger-ish
    reader = FrameReader()
    first = reader.feed(lying)
    assert first == []  # waits: the declared body has not arrived yet
    items = reader.feed(order(2) * 12)
    assert isinstance(items[0], GarbledFrame)
    assert "BodyLength" in items[0].reason
    assert len(frames(items)) >= 10  # every message after the resync point is intact


def test_missing_body_length_is_garbled() -> None:
    data = b"8=FIX.4.4\x0135=0\x0134=1\x0110=000\x01"
    items = FrameReader().feed(data + order(2))
    assert isinstance(items[0], GarbledFrame)
    assert [field(f.message, 34) for f in frames(items)] == ["2"]


def test_msg_type_must_be_the_third_field() -> None:
    body = b"34=1\x0135=0\x01"
    head = b"8=FIX.4.4\x019=" + str(len(body)).encode() + b"\x01" + body
    data = head + f"10={checksum(head):03d}\x01".encode()
    [item] = FrameReader().feed(data)
    assert isinstance(item, GarbledFrame)
    assert "third" in item.reason


def test_frame_larger_than_the_limit_is_refused_without_waiting() -> None:
    data = b"8=FIX.4.4\x019=9999999\x0135=D\x01"
    items = FrameReader(max_frame_bytes=4096).feed(data)
    assert isinstance(items[0], GarbledFrame)


def test_empty_field_value_is_garbled_not_raised() -> None:
    body = b"35=0\x0134=\x01"
    head = b"8=FIX.4.4\x019=" + str(len(body)).encode() + b"\x01" + body
    data = head + f"10={checksum(head):03d}\x01".encode()
    [item] = FrameReader().feed(data)
    assert isinstance(item, GarbledFrame)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30), st.data())
def test_any_chunking_of_a_stream_yields_the_same_frames(seqs: list[int], data: st.DataObject) -> None:
    stream = b"".join(order(s, f"C{s}") for s in seqs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    reader = FrameReader()
    out: list[Frame | GarbledFrame] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += reader.feed(stream[start:end])
    assert all(isinstance(i, Frame) for i in out)
    assert [field(i.message, 34) for i in frames(out)] == [str(s) for s in seqs]
    assert reader.pending == 0


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=50))
def test_arbitrary_bytes_never_raise_and_later_good_messages_survive(noise: bytes, tail: bytes) -> None:
    reader = FrameReader(max_frame_bytes=2000)
    reader.feed(noise)
    # Junk may declare any BodyLength up to the frame limit, so send more than that many good bytes:
    # by then the junk is resolved and the last messages must come through intact.
    good = b"".join(order(s) for s in range(1, 31))
    assert len(good) > 2000
    items = reader.feed(b"\x01" + good)
    assert [field(f.message, 34) for f in frames(items)][-5:] == ["26", "27", "28", "29", "30"]
    reader.feed(tail)


def test_utc_timestamp_has_milliseconds() -> None:
    moment = datetime(2026, 11, 21, 9, 5, 7, 123456, tzinfo=UTC)
    assert format_utc_timestamp(moment) == "20261121-09:05:07.123"


@pytest.mark.parametrize(
    ("text", "micro"),
    [("20261121-09:05:07", 0), ("20261121-09:05:07.123", 123000), ("20261121-09:05:07.123456", 123456),
     ("20261121-09:05:07.123456789", 123456)],
)
def test_parse_utc_timestamp_precisions(text: str, micro: int) -> None:
    parsed = parse_utc_timestamp(text)
    assert parsed.tzinfo is UTC
    assert parsed.microsecond == micro
    assert (parsed.year, parsed.second) == (2026, 7)


@pytest.mark.parametrize("text", ["2026-11-21 09:05:07", "20261121-09:05:07.12x", "20261121-25:00:00"])
def test_parse_utc_timestamp_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_utc_timestamp(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=1, max_value=9999).filter(lambda t: t not in (8, 9, 10, 35)),
                          st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)),
                max_size=15))
def test_encoding_matches_simplefix_byte_for_byte(body: list[tuple[int, str]]) -> None:
    import simplefix

    reference = simplefix.FixMessage()
    reference.append_pair(8, "FIX.4.4")
    reference.append_pair(35, "D")
    for tag, value in body:
        reference.append_pair(tag, value)
    assert encode_message("D", [], body) == reference.encode()


def test_decimals_go_out_in_plain_notation_and_none_is_left_out() -> None:
    from decimal import Decimal

    data = encode_message("D", [], [(38, Decimal("1E+2")), (44, Decimal("0.000001")), (99, None)])
    assert b"\x0138=100\x01" in data and b"\x0144=0.000001\x01" in data and b"\x0199=" not in data


@pytest.mark.parametrize("value", ["", "a\x01b"])
def test_values_that_would_break_framing_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        encode_message("D", [], [(58, value)])


def test_raw_data_may_contain_soh() -> None:
    blob = b"x\x01y=z"
    body = b"35=B\x0134=2\x0195=" + str(len(blob)).encode() + b"\x0196=" + blob + b"\x0158=news\x01"
    head = b"8=FIX.4.4\x019=" + str(len(body)).encode() + b"\x01" + body
    data = head + f"10={checksum(head):03d}\x01".encode()
    [frame] = FrameReader().feed(data)
    assert isinstance(frame, Frame)
    assert frame.message.get(96) == blob
    assert frame.get(58) == "news" and frame.get(34) == "2"
