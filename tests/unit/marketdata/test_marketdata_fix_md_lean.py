"""The ingestor's lean 35=X decoder returns exactly what the general decoder returns, or defers to it."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange import fix_codec
from exchange.market_data import MdEntry as ExchangeEntry
from marketdata.fix_md import DELETE, NEW, Increment, MalformedMarketData, MdEntry, decode_fields, parse_utc_timestamp
from marketdata.fix_md_lean import decode_increment

SENT = "20261121-19:50:01.123456"


def test_the_exchange_codecs_increment_takes_the_lean_path() -> None:
    message = fix_codec.incremental("md1", [
        ExchangeEntry("0", Decimal("10.5"), Decimal(100), 1, "0", "AAPL"),
        ExchangeEntry("1", Decimal("10.6"), None, None, "2", "AAPL"),
        ExchangeEntry("2", Decimal("55.25"), Decimal(5), None, "0", "MSFT"),
    ])
    message.getHeader().setField(52, SENT)
    raw = str(message.toString())
    lean = decode_increment(raw)
    assert lean == Increment("md1", (
        MdEntry(NEW, "0", "AAPL", "10.5", "100"), MdEntry(DELETE, "1", "AAPL", "10.6", None),
        MdEntry(NEW, "2", "MSFT", "55.25", "5"),
    ), parse_utc_timestamp(SENT))
    assert lean == decode_fields(raw)
    assert all(type(entry) is MdEntry for entry in lean.entries)


def test_other_messages_go_to_the_general_decoder() -> None:
    snapshot = fix_codec.snapshot("md1", "AAPL", [ExchangeEntry("0", Decimal("10.50"), Decimal(100), 1)])
    snapshot.getHeader().setField(52, SENT)
    raw = str(snapshot.toString())
    assert decode_increment(raw) is None
    no_sending_time = "8=FIX.4.4\x0135=X\x01262=a\x01268=1\x01279=0\x01269=0\x0155=A\x01"
    assert decode_increment(no_sending_time) is None
    with pytest.raises(MalformedMarketData, match="SendingTime"):
        decode_fields(no_sending_time)


_entry_strategy = st.tuples(
    st.sampled_from(["0", "1", "2", ""]), st.sampled_from(["0", "1", "2", "B", ""]),
    st.sampled_from(["AAPL", "BRK-B", "F", ""]),
    st.one_of(st.none(), st.sampled_from(["10.5", "0.0001", "600", "x", ""])),
    st.one_of(st.none(), st.sampled_from(["100", "0", "7", ""])),
    st.sampled_from(["", "290=1", "336=1", "10=5"]),  # position, an extra field, a stray checksum-like tag
)


@settings(max_examples=300)
@given(st.lists(_entry_strategy, max_size=12), st.integers(-1, 1), st.booleans(), st.booleans())
def test_lean_decoder_agrees_with_the_general_decoder(
    entries: list[tuple[Any, ...]], count_off: int, checksum: bool, req_id: bool
) -> None:
    groups = []
    for action, kind, symbol, price, size, extra in entries:
        groups += [f"279={action}", f"269={kind}", f"55={symbol}"]
        groups += [f"270={price}"] if price is not None else []
        groups += [f"271={size}"] if size is not None else []
        groups += [extra] if extra else []
    header = ["8=FIX.4.4", "9=100", "35=X", f"52={SENT}", *(["262=md7"] if req_id else [])]
    raw = "\x01".join([*header, f"268={len(entries) + count_off}", *groups, *(["10=000"] if checksum else [])])
    raw += "\x01"
    lean = decode_increment(raw)
    general: Any = None
    with contextlib.suppress(MalformedMarketData):
        general = decode_fields(raw)
    if lean is not None:
        assert lean == general
    if general is not None and all(e[0] and e[1] and e[2] and e[3] != "" and e[4] != "" and e[5] in ("", "290=1")
                                   for e in entries) and count_off == 0:
        assert lean is not None, "a canonical increment must take the lean path"
