"""Decoding 35=W/X/Y wire text, as the exchange encodes it (exchange.fix_codec)."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import pytest
import quickfix as fix
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange import fix_codec
from exchange.market_data import MdEntry as ExchangeEntry
from exchange.market_data import MdReject
from marketdata.fix_md import (
    DELETE,
    NEW,
    Increment,
    MalformedMarketData,
    MdEntry,
    RequestReject,
    Snapshot,
    decode,
    parse_utc_timestamp,
)

SENT = "20261121-19:50:01.123"
SENT_US = parse_utc_timestamp(SENT)


def wire(message: fix.Message, sending_time: str = SENT) -> str:
    message.getHeader().setField(52, sending_time)
    return str(message.toString())


def test_snapshot_from_the_exchange_codec() -> None:
    raw = wire(fix_codec.snapshot("md1", "AAPL", [
        ExchangeEntry("0", Decimal("10.50"), Decimal(100), 1),
        ExchangeEntry("1", Decimal("10.60"), Decimal(300), 1),
        ExchangeEntry("5", Decimal("11"), None),
        ExchangeEntry("B", None, Decimal(6500)),
    ]))
    message = decode(raw)
    assert isinstance(message, Snapshot)
    assert (message.req_id, message.symbol, message.exchange_ts_us) == ("md1", "AAPL", SENT_US)
    assert message.entries == (
        MdEntry(NEW, "0", "AAPL", "10.5", "100"),
        MdEntry(NEW, "1", "AAPL", "10.6", "300"),
        MdEntry(NEW, "5", "AAPL", "11", None),
        MdEntry(NEW, "B", "AAPL", None, "6500"),
    )


def test_increment_carries_actions_and_symbols() -> None:
    raw = wire(fix_codec.incremental("md1", [
        ExchangeEntry("0", Decimal("10.5"), Decimal(100), 1, "0", "AAPL"),
        ExchangeEntry("1", Decimal("10.6"), None, None, "2", "AAPL"),
        ExchangeEntry("2", Decimal("55.25"), Decimal(5), None, "0", "MSFT"),
    ]))
    message = decode(raw)
    assert isinstance(message, Increment)
    assert [(e.action, e.entry_type, e.symbol, e.price, e.size) for e in message.entries] == [
        (NEW, "0", "AAPL", "10.5", "100"), (DELETE, "1", "AAPL", "10.6", None), (NEW, "2", "MSFT", "55.25", "5"),
    ]


def test_reject() -> None:
    raw = wire(fix_codec.md_reject(MdReject("s", "md9", "0", "unknown symbol: ZZZZ")))
    assert decode(raw) == RequestReject("md9", "0", "unknown symbol: ZZZZ")


def test_other_message_types_are_ignored() -> None:
    assert decode("8=FIX.4.4\x019=5\x0135=0\x0152=" + SENT + "\x0110=000\x01") is None


def test_microsecond_timestamps() -> None:
    assert parse_utc_timestamp("20261121-19:50:01.123456") == SENT_US + 456
    assert parse_utc_timestamp("20261121-19:50:01") == SENT_US - 123_000


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("8=FIX.4.4\x0135=X\x01262=a\x01268=1\x01279=0\x01269=0\x0155=A\x01", "SendingTime"),
        (f"35=X\x0152={SENT}\x01268=2\x01279=0\x01269=0\x0155=A\x01270=1\x01", "NoMDEntries"),
        (f"35=X\x0152={SENT}\x01268=1\x01279=0\x01270=1\x01", "MDEntryType"),
        (f"35=W\x0152={SENT}\x01268=0\x01", "Symbol"),
        ("35=X\x0152=yesterday\x01268=0\x01", "SendingTime"),
        (f"35=X\x0152={SENT}\x01garbage\x01", "tag=value"),
    ],
)
def test_malformed_messages_raise_a_clear_error(raw: str, why: str) -> None:
    with pytest.raises(MalformedMarketData, match=why):
        decode(raw)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["35=X", "35=W", "35=Y", "\x01", "268=", "1", "279=0", "269=", "55=A", "=",
                                 f"52={SENT}", "270=", "x", "\x00", "-"]), max_size=40).map("".join))
def test_garbage_never_raises_anything_but_malformed(raw: str) -> None:
    with contextlib.suppress(MalformedMarketData):
        decode(raw)


_entry_strategy = st.tuples(
    st.sampled_from(["0", "1", "2"]), st.sampled_from(["0", "1", "2", "B"]), st.sampled_from(["AAPL", "BRK-B", "F"]),
    st.one_of(st.none(), st.sampled_from(["10.5", "0.0001", "600", "x"])),
    st.one_of(st.none(), st.sampled_from(["100", "0", "7"])),
    st.booleans(),
)


@settings(max_examples=200)
@given(st.lists(_entry_strategy, max_size=12), st.booleans())
def test_fast_path_agrees_with_the_general_decoder(entries: list[tuple[Any, ...]], extra_field: bool) -> None:
    from marketdata.fix_md import _fast_increment, decode_fields

    groups = []
    for action, kind, symbol, price, size, position in entries:
        fields = [f"279={action}", f"269={kind}", f"55={symbol}"]
        if extra_field:
            fields.append("336=1")  # TradingSessionID: not in the canonical layout → general decoder
        fields += [f"270={price}"] if price is not None else []
        fields += [f"271={size}"] if size is not None else []
        fields += ["290=1"] if position else []
        groups += fields
    raw = "\x01".join(["8=FIX.4.4", "9=100", "35=X", f"52={SENT}", "262=md7", f"268={len(entries)}", *groups,
                       "10=000"]) + "\x01"
    assert decode(raw) == decode_fields(raw)
    assert (_fast_increment(raw) is None) == (extra_field and bool(entries))  # it ran on the canonical layout
