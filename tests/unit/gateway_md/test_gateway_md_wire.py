"""35=V decoding (never raises) and the 35=W/X/Y layout, on real quickfix messages."""

from __future__ import annotations

from decimal import Decimal

import pytest
import quickfix as fix
import quickfix44 as fix44

from gateway.md import wire
from gateway.md.entries import MdEntry
from gateway.md.subscriptions import UNSUPPORTED_MARKET_DEPTH, MdReject, MdRequest


def md_request(fields: dict[int, str], types: list[str], symbols: list[str]) -> fix.Message:
    m = fix44.MarketDataRequest()
    for tag, value in fields.items():
        m.setField(tag, value)
    for t in types:
        group = fix44.MarketDataRequest.NoMDEntryTypes()
        group.setField(269, t)
        m.addGroup(group)
    for s in symbols:
        group = fix44.MarketDataRequest.NoRelatedSym()
        group.setField(55, s)
        m.addGroup(group)
    return m


def test_decodes_a_subscription() -> None:
    m = md_request({262: "R1", 263: "1", 264: "1", 265: "1"}, ["0", "1"], ["AAPL", "MSFT", "AAPL"])
    assert wire.decode_request(m) == MdRequest("R1", "1", 1, "1", ("0", "1"), ("AAPL", "MSFT"))


def test_missing_or_bad_fields_become_rejects() -> None:
    with pytest.raises(wire.MissingMdReqId):
        wire.decode_request(md_request({263: "1"}, ["0"], ["AAPL"]))
    missing_type = wire.decode_request(md_request({262: "R1"}, ["0"], ["AAPL"]))
    assert isinstance(missing_type, MdReject) and "263" in missing_type.text
    bad_depth = wire.decode_request(md_request({262: "R1", 263: "1", 264: "x"}, ["0"], ["AAPL"]))
    assert isinstance(bad_depth, MdReject) and bad_depth.reason == UNSUPPORTED_MARKET_DEPTH
    short_group = md_request({262: "R1", 263: "1"}, ["0"], ["AAPL"])
    short_group.setField(146, "3")  # claims three symbols, carries one
    result = wire.decode_request(short_group)
    assert isinstance(result, MdReject) and "146" in result.text


def test_reject_snapshot_and_incremental_layout() -> None:
    y = wire.reject(MdReject("R1", "0", "unknown symbol: NOPE"))
    assert y.getHeader().getField(35) == "Y"
    assert (y.getField(262), y.getField(281), y.getField(58)) == ("R1", "0", "unknown symbol: NOPE")
    assert not wire.reject(MdReject("R1", None, "x")).isSetField(281)

    w = wire.snapshot("R1", "AAPL", [MdEntry("0", Decimal("100.50"), Decimal(5), 1), MdEntry("B", None, Decimal(9))])
    text = w.toString().replace("\x01", "|")
    assert "|35=W|" in text and "|55=AAPL|262=R1|268=2|269=0|270=100.5|271=5|290=1|269=B|271=9|" in text
    empty = wire.snapshot("R1", "AAPL", []).toString().replace("\x01", "|")
    assert "|268=0|" in empty

    x = wire.incremental("R1", [MdEntry("1", Decimal(101), None, None, "2", "AAPL")])
    text = x.toString().replace("\x01", "|")
    assert "|35=X|" in text and "|262=R1|268=1|279=2|269=1|55=AAPL|270=101|" in text
